package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/parleyhq/parley/push"
)

// OpsConfig is what an operator sets to run nodes in production: how a
// node is told apart behind a load balancer, where its admin endpoints
// listen, and credentials beyond static keys.
type OpsConfig struct {
	// NodeID names the node to the load balancer: it starts every
	// Engine.IO session id the node hands out ("node1." + random), so the
	// balancer routes a session's later requests to this node by the sid
	// query parameter alone. Empty on a single node.
	NodeID string
	// AdminAddr, when set, serves /metrics and /debug/pprof/ on their own
	// listener, and the public port stops serving /metrics.
	AdminAddr string
	// S3SessionToken goes with temporary S3 credentials (AWS STS).
	S3SessionToken string
	// DrainDelay is how long a graceful shutdown keeps serving with
	// /readyz answering 503 before it closes the sockets, so the balancer
	// has seen the node leave before its clients reconnect.
	DrainDelay time.Duration
	// FCMProjectID turns FCM on without --fcm-credentials-file:
	// Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, else
	// the metadata server of a Google Cloud machine).
	FCMProjectID string
	// IdleMemoryRelease is how often the node checks whether it went quiet,
	// to empty the store's page caches and give the heap's free pages back
	// then (see idleReleaser); 0 leaves that to the Go runtime.
	IdleMemoryRelease time.Duration
}

// opsFlags declares the flags of OpsConfig.
func opsFlags(fs *flag.FlagSet, c *OpsConfig) {
	fs.StringVar(&c.NodeID, "node-id", c.NodeID, "this node's name behind a load balancer ([A-Za-z0-9_-], at most 31 characters); it prefixes realtime session ids so the balancer can route long-polling clients without cookies (deploy/haproxy.cfg matches node1, node2, …)")
	fs.StringVar(&c.AdminAddr, "admin-addr", c.AdminAddr, "address for /metrics and /debug/pprof/ (127.0.0.1:9090); when set, the public port no longer serves /metrics")
	fs.DurationVar(&c.DrainDelay, "drain-delay", c.DrainDelay, "on shutdown, how long /readyz answers 503 before sockets are closed: a little over the balancer's health-check interval × fall count (3s for deploy/haproxy.cfg)")
	fs.StringVar(&c.FCMProjectID, "fcm-project-id", c.FCMProjectID, "turns FCM on without a key file: the Firebase project id, with Application Default Credentials (the key file GOOGLE_APPLICATION_CREDENTIALS names, else the Google Cloud metadata server)")
	fs.DurationVar(&c.IdleMemoryRelease, "idle-memory-release", c.IdleMemoryRelease, "how often the node checks whether it went quiet (allocated under 1/32 of its live heap, and under 1 MiB, since the last check); when it did, it empties SQLite's page caches and returns its free heap pages to the OS, once per quiet spell, so an idle node holds about its live heap instead of twice it (0: off, leave it to the Go runtime)")
	fs.StringVar(&c.S3SessionToken, "s3-session-token", c.S3SessionToken, "session token of temporary S3 credentials (sent as X-Amz-Security-Token)")
}

var nodeIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,31}$`)

func (c *OpsConfig) validate() error {
	if c.NodeID != "" && !nodeIDRE.MatchString(c.NodeID) {
		return fmt.Errorf("--node-id must be 1 to 31 characters of A-Z, a-z, 0-9, _ and -")
	}
	if c.DrainDelay < 0 || c.DrainDelay > 5*time.Minute {
		return fmt.Errorf("--drain-delay must be 0 to 5m")
	}
	if c.IdleMemoryRelease != 0 && (c.IdleMemoryRelease < 100*time.Millisecond || c.IdleMemoryRelease > time.Hour) {
		return fmt.Errorf("--idle-memory-release must be 0 (off) or 100ms to 1h")
	}
	return nil
}

// sidPrefix is what starts the node's Engine.IO session ids: the node id
// and a dot, which no random part contains.
func (c *OpsConfig) sidPrefix() string {
	if c.NodeID == "" {
		return ""
	}
	return c.NodeID + "."
}

// secretFiles wraps getenv so that a variable NAME unset in the
// environment is read from the file NAME_FILE names, trailing newline
// removed: secrets then stay out of the environment and of ps (systemd's
// LoadCredential, Kubernetes and Docker secrets mount such files). Errors
// reading a file are kept in *errs.
func secretFiles(getenv func(string) string, errs *[]error) func(string) string {
	return func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		path := getenv(name + "_FILE")
		if path == "" {
			return ""
		}
		b, err := os.ReadFile(path)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s_FILE: %w", name, err))
			return ""
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			*errs = append(*errs, fmt.Errorf("%s_FILE: %s is empty", name, path))
		}
		return v
	}
}

// parseWithSecretFiles is parse with every PARLEY_* variable also
// readable from a PARLEY_*_FILE file.
func parseWithSecretFiles(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	var errs []error
	if err := parse(fs, args, secretFiles(getenv, &errs)); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// fcmConfig returns the FCM channel's credentials and whether FCM is on:
// the key file of --fcm-credentials-file; else, with --fcm-project-id,
// Application Default Credentials: the key file GOOGLE_APPLICATION_CREDENTIALS
// names, else the metadata server (at GCE_METADATA_HOST when set).
func (m *Main) fcmConfig() (push.FCMConfig, bool, error) {
	getenv := m.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	file := m.Config.FCMCredentialsFile
	if file == "" && m.Config.Ops.FCMProjectID == "" {
		return push.FCMConfig{}, false, nil
	}
	if file == "" {
		file = getenv("GOOGLE_APPLICATION_CREDENTIALS")
	}
	fc := push.FCMConfig{ProjectID: m.Config.Ops.FCMProjectID}
	if file == "" {
		if host := getenv("GCE_METADATA_HOST"); host != "" {
			fc.MetadataURL = "http://" + host
		}
		return fc, true, nil
	}
	creds, err := os.ReadFile(file)
	if err != nil {
		return fc, false, fmt.Errorf("fcm credentials: %w", err)
	}
	fc.Credentials = creds
	return fc, true, nil
}
