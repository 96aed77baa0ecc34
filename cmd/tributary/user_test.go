package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/tributary-io/tributary/auth"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/server"
)

// TestUserCreateOffline: the first user, made on a stopped broker's data
// dir from a password on standard input, logs in over SASL once the broker
// starts; list and delete work offline too.
func TestUserCreateOffline(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	r := runCLI(t, "s3cret-admin\n", "user", "create", "admin", "--mechanism", "SCRAM-SHA-512", "--password-stdin", "--data-dir", dir)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "admin  SCRAM-SHA-512  4096        created") || strings.Contains(r.stdout+r.stderr, "s3cret") {
		t.Errorf("output:\n%s%s", r.stdout, r.stderr)
	}
	r = runCLI(t, "other\n", "user", "create", "bob", "--mechanism", "SCRAM-SHA-256,SCRAM-SHA-512", "--iterations", "8192", "--password-stdin", "--data-dir", dir)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	r = runCLI(t, "", "user", "list", "--data-dir", dir)
	want := "USER   MECHANISM      ITERATIONS\nadmin  SCRAM-SHA-512  4096\nbob    SCRAM-SHA-256  8192\nbob    SCRAM-SHA-512  8192\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("list: exit %d:\n%s\nwant:\n%s%s", r.code, r.stdout, want, r.stderr)
	}
	if r = runCLI(t, "", "user", "delete", "bob", "--data-dir", dir); r.code != 0 || strings.Count(r.stdout, "deleted") != 2 {
		t.Fatalf("delete: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	if r = runCLI(t, "", "user", "delete", "bob", "--data-dir", dir); r.code != 1 || !strings.Contains(r.stderr, "no such user") {
		t.Fatalf("delete twice: exit %d: %s", r.code, r.stderr)
	}

	// The broker over that dir authenticates admin.
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	mgr, err := tlog.OpenManager(dir, tlog.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	srv, err := server.New(mgr, server.DefaultConfig(), logger)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	addr, err := srv.ListenOn(server.Listener{Name: "SASL_PLAINTEXT", Protocol: auth.SASLPlaintext, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr.String()), kgo.SASL(scram.Auth{User: "admin", Pass: "s3cret-admin"}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		t.Fatalf("admin cannot log in: %v", err)
	}

	// While the broker holds the dir, offline changes are refused.
	r = runCLI(t, "pw\n", "user", "create", "eve", "--password-stdin", "--data-dir", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "data dir is locked") || !strings.Contains(r.stderr, "stop the broker first") {
		t.Fatalf("create on a running broker's dir: exit %d: %s", r.code, r.stderr)
	}
}

// TestUserCommandsOnline: create, list and delete through --brokers
// (AlterUserScramCredentials, DescribeUserScramCredentials).
func TestUserCommandsOnline(t *testing.T) {
	b := startCLIBroker(t)
	b.must(t, "alice-pw\n", "user", "create", "alice", "--mechanism", "SCRAM-SHA-256", "--password-stdin")
	b.must(t, "alice-pw\n", "user", "create", "alice", "--mechanism", "SCRAM-SHA-512", "--iterations", "16384", "--password-stdin")
	r := b.must(t, "", "user", "list")
	if want := "USER   MECHANISM      ITERATIONS\nalice  SCRAM-SHA-256  4096\nalice  SCRAM-SHA-512  16384\n"; r.stdout != want {
		t.Fatalf("list:\n%s\nwant:\n%s", r.stdout, want)
	}
	b.must(t, "", "user", "delete", "alice", "--mechanism", "SCRAM-SHA-256")
	b.fails(t, 1, "user delete alice: RESOURCE_NOT_FOUND", "user", "delete", "alice", "--mechanism", "SCRAM-SHA-256")
	if r := b.must(t, "", "user", "list"); !strings.Contains(r.stdout, "alice  SCRAM-SHA-512  16384") || strings.Contains(r.stdout, "SHA-256") {
		t.Fatalf("after delete:\n%s", r.stdout)
	}
}

func TestUserCommandLineRefusals(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"", []string{"user", "create", "a", "--data-dir", dir}, 2, "--password-stdin (never on the command line)"},
		{"\n", []string{"user", "create", "a", "--password-stdin", "--data-dir", dir}, 1, "standard input holds no password"},
		{"pw\n", []string{"user", "create", "a", "--password-stdin", "--mechanism", "SCRAM-SHA-1", "--data-dir", dir}, 2, "unknown mechanism"},
		{"pw\n", []string{"user", "create", "a", "--password-stdin", "--iterations", "100", "--data-dir", dir}, 2, "--iterations 100: want 4096 to 16384"},
		{"pw\n", []string{"--brokers", "127.0.0.1:1", "user", "create", "a", "--password-stdin", "--data-dir", dir}, 2, "not both"},
	} {
		r := runCLI(t, tt.stdin, tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, %q; want %d, %q", tt.args, r.code, r.stderr, tt.code, tt.want)
		}
	}
}
