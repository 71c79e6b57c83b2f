// Command parley runs the Parley chat server.
//
//	parley [serve] [flags]   run the server (the default)
//	parley migrate [flags]   apply database migrations and exit
//	parley bench [flags]     load a running server end to end and report
//	                         (--against relay: a fresh node against the reference relay)
//	parley user|sessions|invite …  manage accounts, sessions and invite codes
//	parley version           print the version
//
// Every flag can also be set with a PARLEY_* environment variable; run
// `parley --help` for the list.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "parley:", err)
		os.Exit(1)
	}
}
