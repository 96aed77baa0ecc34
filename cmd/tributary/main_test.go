package main

import (
	"bufio"
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary compiles the tributary binary once for the tests below.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tributary")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serving is a running `tributary serve` whose stderr lines can be awaited.
type serving struct {
	cmd   *exec.Cmd
	lines chan string
}

func startServe(t *testing.T, bin, data string, flags ...string) *serving {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--data-dir", data, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"}, flags...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	s := &serving{cmd: cmd, lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	return s
}

func (s *serving) waitFor(t *testing.T, what string) {
	t.Helper()
	s.waitForLine(t, what)
}

// stop sends SIGTERM and expects a clean exit.
func (s *serving) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, "shutting down")
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}
}

// TestServeHoldsTheDataDir runs the real binary: serve opens the data dir
// and holds its lock, a second broker on the same dir exits with a clear
// error naming the holder, SIGTERM shuts the first down cleanly, and the
// dir can then be served again.
func TestServeHoldsTheDataDir(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")

	first := startServe(t, bin, data)
	first.waitFor(t, "data dir open")

	// Ports of its own: the data dir's lock is what must stop it.
	second := exec.Command(bin, "serve", "--data-dir", data, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")
	var errOut bytes.Buffer
	second.Stderr = &errOut
	err := second.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("second broker on the same dir: %v, want exit status 1", err)
	}
	msg := errOut.String()
	if !strings.Contains(msg, "locked by another broker") || !strings.Contains(msg, "pid") {
		t.Fatalf("second broker's error does not say who holds the dir: %q", msg)
	}

	first.stop(t)
	third := startServe(t, bin, data) // the lock went with the process
	third.waitFor(t, "data dir open")
	third.stop(t)
}

func TestUsageErrors(t *testing.T) {
	bin := buildBinary(t)
	for _, args := range [][]string{{}, {"frobnicate"}} {
		err := exec.Command(bin, args...).Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("tributary %v: %v, want exit status 2", args, err)
		}
	}
	out, err := exec.Command(bin, "serve", "-h").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Examples:") || !strings.Contains(string(out), "tributary serve --data-dir") {
		t.Errorf("serve -h: %v\n%s", err, out)
	}
}
