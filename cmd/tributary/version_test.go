package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// versionPkg is where make build stamps the version (-X in LDFLAGS).
const versionPkg = "github.com/tributary-io/tributary/server"

// buildStamped compiles the binary as make build does, with a version and
// revision stamped by -ldflags.
func buildStamped(t *testing.T, version, revision string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tributary")
	ldflags := "-X " + versionPkg + ".Version=" + version + " -X " + versionPkg + ".Revision=" + revision
	out, err := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestVersionIsStampedEverywhere: the version and revision stamped at
// build time are what `tributary version` and --version print, what the
// first log line of serve names and what tributary_build_info carries.
func TestVersionIsStampedEverywhere(t *testing.T) {
	bin := buildStamped(t, "v9.8.7-test", "0123abcd")
	want := "tributary v9.8.7-test (revision 0123abcd, " + runtime.Version() + ")\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, err := exec.Command(bin, args...).Output()
		if err != nil || string(out) != want {
			t.Errorf("tributary %v: %v %q, want %q", args, err, out, want)
		}
	}

	cmd := exec.Command(bin, "serve", "--data-dir", filepath.Join(t.TempDir(), "data"), "--listen", "127.0.0.1:0",
		"--metrics-listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "debug")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	var first map[string]any
	var metrics string
	deadline := time.Now().Add(20 * time.Second)
	for metrics == "" && time.Now().Before(deadline) && sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("--log-format json wrote a line that is not JSON: %q", sc.Text())
		}
		if first == nil {
			first = line
		}
		if m, ok := line["metrics"].(string); ok {
			metrics = m
		}
	}
	if first["msg"] != "tributary: starting" || first["version"] != "v9.8.7-test" || first["revision"] != "0123abcd" || first["level"] != "INFO" {
		t.Errorf("first log line %v: want the start line with the version", first)
	}
	if metrics == "" {
		t.Fatal("no serving line")
	}
	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `tributary_build_info{goversion="`+runtime.Version()+`",revision="0123abcd",version="v9.8.7-test"} 1`) {
		t.Errorf("tributary_build_info does not carry the stamped version")
	}
}

// TestMakeBuildStampsVersion: make build passes git describe and the
// commit to -ldflags at the variables BuildVersion reads, and without git
// (VERSION and REVISION empty) still builds.
func TestMakeBuildStampsVersion(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	out, err := exec.Command("make", "-s", "-n", "-C", "../..", "build", "VERSION=v1.2.3", "REVISION=cafe", "BIN=bin/x").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n build: %v\n%s", err, out)
	}
	for _, want := range []string{"go build -trimpath -ldflags", "-X " + versionPkg + ".Version=v1.2.3", "-X " + versionPkg + ".Revision=cafe", "./cmd/tributary"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("make build does not run %q:\n%s", want, out)
		}
	}
	out, err = exec.Command("make", "-s", "-n", "-C", "../..", "build").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "git describe") && !strings.Contains(string(out), ".Version=") {
		t.Errorf("make -n build with git's values: %v\n%s", err, out)
	}
}

// TestLoggerLevelsAndFormats: log.level drops what is less severe, and
// log.format json writes one JSON object a line.
func TestLoggerLevelsAndFormats(t *testing.T) {
	for _, tt := range []struct {
		level, format string
		want          []string // messages written of debug, info, warn, error
	}{
		{"debug", "text", []string{"d", "i", "w", "e"}},
		{"info", "text", []string{"i", "w", "e"}},
		{"warn", "json", []string{"w", "e"}},
		{"error", "json", []string{"e"}},
	} {
		var b strings.Builder
		l := newLogger(&b, tt.level, tt.format)
		l.Debug("d")
		l.Info("i")
		l.Warn("w")
		l.Error("e")
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
			if tt.format == "json" {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("%s/%s: %q is not JSON", tt.level, tt.format, line)
				}
				got = append(got, m["msg"].(string))
			} else {
				_, msg, _ := strings.Cut(line, "msg=")
				got = append(got, msg)
			}
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("%s/%s wrote %v, want %v", tt.level, tt.format, got, tt.want)
		}
	}
	for _, args := range [][]string{{"--log-level", "loud"}, {"--log-format", "xml"}, {"--set", "log.level=trace"}} {
		r := runCLI(t, "", append([]string{"serve", "--print-config"}, args...)...)
		if r.code == 0 {
			t.Errorf("serve %v accepted", args)
		}
	}
	t.Setenv("TRIBUTARY_LOG_FORMAT", "json")
	m, _ := printConfig(t, "--log-level", "warn")
	if m["log.format"] != "json" || m["log.level"] != "warn" {
		t.Errorf("log.format %q, log.level %q", m["log.format"], m["log.level"])
	}
}
