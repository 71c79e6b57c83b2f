package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestContainerImage builds deploy/Containerfile with scripts/container and
// runs it with podman: the node serves, keeps its data on the volume, runs
// as the unprivileged user and stops gracefully. scripts/test installs
// podman and sets PARLEY_CONTAINER_TEST, so in CI a missing engine fails;
// elsewhere a machine without podman skips it, saying so.
func TestContainerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a container image")
	}
	podman, err := exec.LookPath("podman")
	if err != nil {
		if os.Getenv("PARLEY_CONTAINER_TEST") != "" {
			t.Fatal("podman is not installed; run: apt-get install podman runc (scripts/test does)")
		}
		t.Skip("podman is not installed (scripts/test installs it and runs this test)")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var id [6]byte
	rand.Read(id[:])
	name := "parley-test-" + hex.EncodeToString(id[:])
	tag := "localhost/" + name + ":test"
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(podman, args...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	t.Cleanup(func() {
		exec.Command(podman, "rm", "-f", name).Run()
		exec.Command(podman, "volume", "rm", "-f", name).Run()
		exec.Command(podman, "rmi", "-f", tag).Run()
	})

	build := exec.Command(filepath.Join(root, "scripts", "container"), "build", tag)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scripts/container build: %v\n%s", err, out)
	}
	if user := run("image", "inspect", "--format", "{{.Config.User}}", tag); user != "65532:65532" {
		t.Errorf("the image runs as %q, want 65532:65532", user)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// Limits below the host's: a sandbox without CAP_SYS_RESOURCE refuses
	// podman's defaults (and even the host's own values) for the process
	// limit, and may only lower them.
	limits := []string{"--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"}
	if _, err := exec.LookPath("runc"); err == nil {
		// crun 1.8 (Debian 12) refuses hosts with hybrid cgroups; runc runs anywhere.
		limits = append(limits, "--runtime", "runc")
	}
	args := append([]string{"run", "-d", "--name", name, "--network", "host",
		"-e", "PARLEY_ADDR=" + addr, "-v", name + ":/data"}, limits...)
	run(append(args, tag)...)

	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container's node is not ready: %v\n%s", err, run("logs", name))
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.Post(base+"/v1/users", "application/json", bytes.NewReader([]byte(`{"handle":"boxed","password":"boxed-password"}`)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register in the container = %d", resp.StatusCode)
	}
	run("stop", "-t", "15", name)
	if code := run("inspect", "--format", "{{.State.ExitCode}}", name); code != "0" {
		t.Errorf("the node exited with %s on SIGTERM, want 0\n%s", code, run("logs", name))
	}
	// The data outlives the container: the volume holds the database.
	args = append([]string{"run", "--rm", "--network", "none", "-v", name + ":/data", "--entrypoint", "/parley"}, limits...)
	out := run(append(args, tag, "user", "list", "--json")...)
	if !strings.Contains(out, `"boxed"`) {
		t.Errorf("the volume lost the user registered before the stop: %s", out)
	}
}
