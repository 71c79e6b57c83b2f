package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Run dispatches a command line to its subcommand and, for serve, runs
// until ctx is cancelled, then shuts down gracefully.
func Run(ctx context.Context, args []string, getenv func(string) string) error {
	return run(ctx, args, getenv, os.Stdout, os.Stderr)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, "parley", version)
		return nil
	case "help":
		cfg := DefaultConfig()
		flagSet("serve", &cfg, stdout).Usage()
		return nil
	case "bench":
		return runBench(ctx, args, getenv, stdout, stderr)
	case "user", "sessions", "invite":
		return runAdmin(ctx, cmd, args, getenv, os.Stdin, stdout, stderr)
	case "serve", "migrate":
	default:
		return fmt.Errorf("unknown command %q (commands: serve, migrate, bench, user, sessions, invite, version)", cmd)
	}
	m := NewMain()
	m.Stdout, m.Stderr = stdout, stderr
	if err := m.ParseFlags(cmd, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if cmd == "migrate" {
		return m.RunMigrate(ctx)
	}
	if m.Config.Ops.AdminAddr == "" {
		// Heap profiles are served on the admin address only: without it
		// nothing can read the samples, so the process keeps none (their
		// table and stacks are over a megabyte).
		runtime.MemProfileRate = 0
	}
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	<-ctx.Done()
	m.Logger.Info("shutting down")
	return m.Close()
}
