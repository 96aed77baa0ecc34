package main

import (
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// readRepoFile reads a file of the repository by its path from the root.
func readRepoFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile("../../" + path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// makeVar is the default of a Makefile variable (NAME ?= value).
func makeVar(t *testing.T, makefile, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `\s*\?=\s*(\S+)\s*$`).FindStringSubmatch(makefile)
	if m == nil {
		t.Fatalf("Makefile has no %s ?= default", name)
	}
	return m[1]
}

// readmeSecuredListen is the SASL_SSL listener of the README's secured
// broker setup (Kafka's habit: 9092 plaintext, 9093/9094 secured), which
// TestReadmeSecuritySetupRuns runs.
const readmeSecuredListen = "127.0.0.1:9094"

// TestPortsAgreeEverywhere: the README, the Makefile's run target, the
// Dockerfile, the systemd unit and the Prometheus config use serve's
// default ports (and the README's secured setup its own), so that the
// examples work as written.
func TestPortsAgreeEverywhere(t *testing.T) {
	makefile := readRepoFile(t, "Makefile")
	if got := makeVar(t, makefile, "ADDR"); got != defaultListen {
		t.Errorf("Makefile ADDR %s, serve --listen %s", got, defaultListen)
	}
	if got := makeVar(t, makefile, "METRICS_ADDR"); got != defaultMetricsListen {
		t.Errorf("Makefile METRICS_ADDR %s, serve --metrics-listen %s", got, defaultMetricsListen)
	}
	if !strings.Contains(makefile, `--listen $(ADDR) --metrics-listen "$(METRICS_ADDR)"`) {
		t.Error("make run does not pass ADDR and METRICS_ADDR to serve")
	}
	hostPort := regexp.MustCompile(`\b(?:127\.0\.0\.1|localhost|0\.0\.0\.0):(\d{2,5})\b`)
	allowed := map[string]bool{port(t, defaultListen): true, port(t, defaultMetricsListen): true}
	for _, f := range []string{"README.md", "deploy/Dockerfile", "deploy/tributary.service", "deploy/prometheus.yml"} {
		for _, m := range hostPort.FindAllStringSubmatch(readRepoFile(t, f), -1) {
			if !allowed[m[1]] && !(f == "README.md" && m[0] == readmeSecuredListen) {
				t.Errorf("%s names %s: not one of serve's ports %s and %s", f, m[0], defaultListen, defaultMetricsListen)
			}
		}
	}
}

// TestDockerfileMatchesMakefile: Docker cannot run here, so the image is
// not built by the tests; this checks what can be checked without it: the
// Dockerfile builds with make build (the same command and -ldflags as
// everywhere) and CGO off, on go.mod's Go version, runs as a non-root
// user with the data dir on a volume, and exposes serve's ports, which
// its environment sets.
func TestDockerfileMatchesMakefile(t *testing.T) {
	df := readRepoFile(t, "deploy/Dockerfile")
	gomod := readRepoFile(t, "go.mod")
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(gomod)[1]
	for _, want := range []string{
		"ARG GO_VERSION=" + goVersion + "\n",
		"FROM golang:${GO_VERSION} AS build",
		"RUN CGO_ENABLED=0 make build BIN=/out/tributary VERSION=\"$VERSION\" REVISION=\"$REVISION\"",
		"USER nonroot:nonroot",
		`VOLUME ["/var/lib/tributary"]`,
		"TRIBUTARY_DATA_DIR=/var/lib/tributary",
		"EXPOSE " + port(t, defaultListen) + " " + port(t, defaultMetricsListen) + "\n",
		"TRIBUTARY_LISTEN=0.0.0.0:" + port(t, defaultListen),
		"TRIBUTARY_METRICS_LISTEN=0.0.0.0:" + port(t, defaultMetricsListen),
		`ENTRYPOINT ["/usr/local/bin/tributary"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("deploy/Dockerfile lacks %q", want)
		}
	}
	if _, err := exec.LookPath("make"); err == nil {
		// make build, as the Dockerfile runs it, is a static build.
		out, err := exec.Command("make", "-s", "-n", "-C", "../..", "build", "BIN=/out/tributary", "VERSION=", "REVISION=").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "go build -trimpath -ldflags") || !strings.Contains(string(out), "-o /out/tributary ./cmd/tributary") {
			t.Errorf("make build as the Dockerfile runs it: %v\n%s", err, out)
		}
	}
	// The Dockerfile's environment is what serve reads.
	var env []string
	inEnv := false
	for _, line := range strings.Split(df, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "ENV ") {
			inEnv, line = true, strings.TrimPrefix(line, "ENV ")
		}
		if inEnv {
			env = append(env, strings.TrimSpace(strings.TrimSuffix(line, "\\")))
			inEnv = strings.HasSuffix(line, "\\")
		}
	}
	if len(env) < 4 {
		t.Fatalf("Dockerfile ENV: %v", env)
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	_, out := printConfig(t)
	if !strings.Contains(out, "--data-dir=/var/lib/tributary --listen=0.0.0.0:9092 --advertise=localhost:9092 --metrics-listen=0.0.0.0:9644") {
		t.Errorf("serve under the Dockerfile's environment:\n%s", out)
	}
}

// TestSystemdUnit: the unit runs serve as its own user with the settings
// serve reads, restarts it on failure, raises the open-file limit and
// confines it; serve accepts its environment.
func TestSystemdUnit(t *testing.T) {
	unit := readRepoFile(t, "deploy/tributary.service")
	for _, want := range []string{
		"User=tributary\n", "StateDirectory=tributary\n", "ExecStart=/usr/local/bin/tributary serve\n",
		"Restart=on-failure\n", "LimitNOFILE=1048576\n", "KillSignal=SIGTERM\n",
		"NoNewPrivileges=yes\n", "ProtectSystem=strict\n", "ProtectHome=yes\n", "PrivateTmp=yes\n",
		"CapabilityBoundingSet=\n", "SystemCallFilter=@system-service\n", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("deploy/tributary.service lacks %q", want)
		}
	}
	conf := ""
	for _, line := range strings.Split(unit, "\n") {
		if kv, ok := strings.CutPrefix(line, "Environment="); ok {
			k, v, _ := strings.Cut(kv, "=")
			if k == envConfig {
				conf = v
				v = sampleConfigPath // the file the unit's comment installs there
			}
			t.Setenv(k, v)
		}
	}
	if conf != "/etc/tributary/tributary.properties" {
		t.Errorf("unit's %s = %q", envConfig, conf)
	}
	_, out := printConfig(t)
	if !strings.Contains(out, "--data-dir=/var/lib/tributary --listen=0.0.0.0:9092 --advertise= --metrics-listen=127.0.0.1:9644") {
		t.Errorf("serve under the unit's environment:\n%s", out)
	}
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		// verify wants the binary to exist: point ExecStart at this test's.
		exe, _ := os.Executable()
		path := t.TempDir() + "/tributary.service"
		os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/tributary", exe)), 0o644)
		if out, err := exec.Command(sa, "verify", path).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}
}
