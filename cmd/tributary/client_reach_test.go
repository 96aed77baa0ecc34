package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// deadAddr is a loopback address nothing listens on: a port the kernel
// handed out and took back.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestClientCommandsFailFastWithoutBroker runs every client command of the
// real binary against an address nothing listens on: each exits 1 within
// seconds with one line that names the address, produce included (it
// used to wait for ever with stdin read).
func TestClientCommandsFailFastWithoutBroker(t *testing.T) {
	bin := buildBinary(t)
	addr := deadAddr(t)
	for _, args := range [][]string{
		{"produce", "-t", "events"},
		{"consume", "-t", "events"},
		{"consume", "-t", "events", "-G", "g"},
		{"topic", "list"},
		{"topic", "create", "events"},
		{"topic", "describe", "events"},
		{"topic", "alter", "events", "--partitions", "2"},
		{"topic", "delete", "events"},
		{"group", "list"},
		{"group", "describe", "g"},
		{"group", "delete", "g"},
		{"group", "reset-offsets", "g", "-t", "events", "--to-earliest"},
		{"bench", "produce", "--records", "10"},
		{"bench", "consume", "--records", "10"},
		{"bench", "e2e", "--records", "10"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			cmd := exec.Command(bin, append(args, "--brokers", addr)...)
			cmd.Stdin = strings.NewReader("x\n")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			err := cmd.Run()
			took := time.Since(start)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("exit %v, want status 1; stderr %q", err, stderr.String())
			}
			if took > 15*time.Second {
				t.Errorf("took %v to fail", took)
			}
			lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "tributary: ") || !strings.Contains(lines[0], "cannot reach a broker at "+addr) {
				t.Errorf("stderr is not one line naming %s:\n%s", addr, stderr.String())
			}
		})
	}
}

// TestProduceInterruptPrintsSummary runs `tributary produce` as a child
// process reading a pipe that stays open, and sends it SIGINT once its
// records are stored: it prints its summary, with the records it
// produced, and exits 130.
func TestProduceInterruptPrintsSummary(t *testing.T) {
	bin := buildBinary(t)
	b := startCLIBroker(t)
	b.must(t, "", "topic", "create", "events")

	cmd := exec.Command(bin, "produce", "-t", "events", "--brokers", b.addr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	io.WriteString(stdin, "one\ntwo\nthree\n") // and the pipe stays open

	adm := kadm.NewClient(b.client(t))
	deadline := time.Now().Add(20 * time.Second)
	for {
		ends, err := adm.ListEndOffsets(testCtx(t), "events")
		if err == nil {
			if o, ok := ends.Lookup("events", 0); ok && o.Offset == 3 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the three records never arrived; produce said %q", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("produce did not exit after SIGINT")
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 {
		t.Fatalf("produce after SIGINT: %v, want exit status 130; stderr %q", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "produce: interrupted: 3 records, 11 bytes to events, 0 errors, 0 not sent\n") {
		t.Errorf("no summary after SIGINT:\n%s", stderr.String())
	}
}
