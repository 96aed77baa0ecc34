package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// readmeBlockRe is one fenced block of the README: its language and text.
var readmeBlockRe = regexp.MustCompile("(?s)```(\\w+)\n(.*?)```")

// TestReadmeSecuritySetupRuns runs the README's "A secured broker, step by
// step" as written: openssl makes the certificates, the first user is made
// offline, tributary serve runs broker.properties, the admin's commands
// and alice's run in one shell as in a second terminal, kcat reads as
// alice when it is installed, and a franz-go client with the README's
// options logs in. Only the port is changed, to a free one.
func TestReadmeSecuritySetupRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs openssl")
	}
	for _, tool := range []string{"bash", "openssl", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "### A secured broker, step by step")
	end := strings.Index(text, "## Using the storage engine embedded")
	if start < 0 || end < start {
		t.Fatal("README has no secured broker setup")
	}
	section := text[start:end]

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	section = strings.ReplaceAll(section, readmeSecuredListen, addr)

	dir, bin := t.TempDir(), t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "tributary"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	env := []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), envMetricsListen + "=127.0.0.1:0"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, envPrefix) {
			env = append(env, kv)
		}
	}
	shell := func(script string) string {
		t.Helper()
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v:\n%s\noutput:\n%s", err, script, out)
		}
		return string(out)
	}

	var before, after []string // shell blocks before tributary serve, and in the other terminal
	serve := ""
	_, haveKcat := exec.LookPath("kcat")
	for _, m := range readmeBlockRe.FindAllStringSubmatch(section, -1) {
		lang, body := m[1], m[2]
		switch {
		case lang == "properties":
			name, _, _ := strings.Cut(strings.TrimPrefix(strings.SplitN(body, "\n", 2)[0], "# "), " ")
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		case lang != "sh":
		case strings.HasPrefix(body, "tributary serve"):
			serve = strings.TrimSpace(body)
		case strings.HasPrefix(body, "kcat") && haveKcat != nil:
		case serve == "":
			before = append(before, body)
		default:
			after = append(after, body)
		}
	}
	if serve == "" || len(before) == 0 || len(after) < 2 {
		t.Fatalf("README setup: serve %q, %d blocks before, %d after", serve, len(before), len(after))
	}
	for _, b := range before {
		shell(b)
	}

	logPath := filepath.Join(t.TempDir(), "serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	serveLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	srv := exec.Command("bash", "-c", "exec "+serve)
	srv.Dir, srv.Env, srv.Stdout, srv.Stderr = dir, env, logFile, logFile
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		if err := srv.Wait(); err != nil {
			t.Errorf("serve: %v\n%s", err, serveLog())
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve is not listening on %s:\n%s", addr, serveLog())
		}
		time.Sleep(50 * time.Millisecond)
	}

	out := shell(strings.Join(after, "\n"))
	want := 2 // tributary consume, and kcat
	if haveKcat != nil {
		want = 1
	}
	if got := strings.Count(out, "order 1"); got != want {
		t.Fatalf("alice read %d copies of the record, want %d:\n%s", got, want, out)
	}
	if !strings.Contains(out, "User:alice") {
		t.Fatalf("acl list shows no alice:\n%s", out)
	}

	// The README's claims about alice's refusals.
	refused := exec.Command("bash", "-c", "tributary topic delete orders --command-config alice.properties")
	refused.Dir, refused.Env = dir, append(env, envBrokers+"="+addr)
	if out, err := refused.CombinedOutput(); err == nil || !strings.Contains(string(out), "TOPIC_AUTHORIZATION_FAILED") {
		t.Fatalf("alice deletes a topic: %v: %s", err, out)
	}
	wrong := exec.Command("bash", "-c", "tributary topic list --command-config alice.properties")
	wrong.Dir, wrong.Env = dir, append(env, envBrokers+"="+addr, clientEnvPrefix+"SASL_PASSWORD=wrong")
	if out, err := wrong.CombinedOutput(); err == nil || !strings.Contains(string(out), `authentication failed as "alice" (SCRAM-SHA-512) at `) {
		t.Fatalf("a wrong password: %v: %s", err, out)
	}

	// The README's franz-go options.
	ca, err := os.ReadFile(filepath.Join(dir, "tls/ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.DialTLSConfig(&tls.Config{RootCAs: roots}),
		kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("order 2")}).FirstErr(); err != nil {
		t.Fatalf("franz-go as alice: %v", err)
	}
}
