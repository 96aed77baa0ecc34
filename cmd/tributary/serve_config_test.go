package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tributary-io/tributary/server"
)

// sampleConfigPath is the documented sample config of the repo.
const sampleConfigPath = "../../deploy/tributary.properties"

// TestSettingDocs: every broker setting has a description, a flag and a
// distinct environment variable, and no description names a setting that
// does not exist.
func TestSettingDocs(t *testing.T) {
	names := settingNames()
	envs := map[string]string{}
	for _, n := range names {
		if settingDocs[n] == "" {
			t.Errorf("setting %s has no description in settingDocs", n)
		}
		e := settingEnv(n)
		if other, dup := envs[e]; dup {
			t.Errorf("%s and %s share the environment variable %s", n, other, e)
		}
		envs[e] = n
	}
	for n := range settingDocs {
		if !contains(names, n) {
			t.Errorf("settingDocs describes %s, which is no broker setting", n)
		}
	}
	if got := settingEnv("log.retention.ms"); got != "TRIBUTARY_LOG_RETENTION_MS" {
		t.Errorf("settingEnv = %s", got)
	}
}

// unsetenv removes k from the environment for the rest of the test.
func unsetenv(t *testing.T, k string) {
	t.Setenv(k, "") // restores the old value at the end
	os.Unsetenv(k)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// printConfig runs serve --print-config and returns the settings it shows.
func printConfig(t *testing.T, args ...string) (map[string]string, string) {
	t.Helper()
	r := runCLI(t, "", append([]string{"serve", "--print-config"}, args...)...)
	if r.code != 0 {
		t.Fatalf("serve --print-config %v: exit %d: %s", args, r.code, r.stderr)
	}
	m := map[string]string{}
	for _, line := range strings.Split(r.stdout, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	return m, r.stdout
}

// TestServeConfigPrecedence: defaults < --config < TRIBUTARY_* < flags,
// and the later of --<name> and --set wins.
func TestServeConfigPrecedence(t *testing.T) {
	props := filepath.Join(t.TempDir(), "broker.properties")
	writeFile(t, props, "num.partitions=6\nlog.retention.ms=3600000\nfetch.max.bytes=2048\nmessage.max.bytes=1048588\n")

	m, out := printConfig(t, "--config", props)
	if m["num.partitions"] != "6" || m["log.retention.ms"] != "3600000" || m["group.max.size"] != "2147483647" {
		t.Errorf("--config: %v", m)
	}
	if !strings.Contains(out, "# from --config "+props+"\nmessage.max.bytes=1048588\n") {
		t.Errorf("a value from the file that equals the default is not attributed to it:\n%s", out)
	}

	t.Setenv("TRIBUTARY_NUM_PARTITIONS", "7")
	t.Setenv("TRIBUTARY_FETCH_MAX_BYTES", "4096")
	t.Setenv("TRIBUTARY_LOG_ROLL_MS", "60000")
	m, out = printConfig(t, "--config", props, "--num.partitions", "8", "--set", "fetch.max.bytes=8192", "--fetch.max.bytes=16384", "--set", "auto.create.topics.enable=false")
	for k, want := range map[string]string{
		"num.partitions":            "8",       // flag over env over file
		"fetch.max.bytes":           "16384",   // the later flag wins
		"log.roll.ms":               "60000",   // env over default
		"log.retention.ms":          "3600000", // file over default
		"auto.create.topics.enable": "false",
	} {
		if m[k] != want {
			t.Errorf("%s = %q, want %q", k, m[k], want)
		}
	}
	for _, want := range []string{"# from env TRIBUTARY_LOG_ROLL_MS\nlog.roll.ms=60000\n", "# from flag\nnum.partitions=8\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("--print-config lacks %q:\n%s", want, out)
		}
	}

	// The printed configuration loads back to the same settings.
	again := filepath.Join(t.TempDir(), "again.properties")
	writeFile(t, again, out)
	t.Run("loads back", func(t *testing.T) {
		for _, k := range []string{"TRIBUTARY_NUM_PARTITIONS", "TRIBUTARY_FETCH_MAX_BYTES", "TRIBUTARY_LOG_ROLL_MS"} {
			unsetenv(t, k)
		}
		m2, _ := printConfig(t, "--config", again)
		if fmt.Sprint(m2) != fmt.Sprint(m) {
			t.Errorf("--print-config does not load back:\n%v\n%v", m2, m)
		}
	})

	t.Setenv("TRIBUTARY_DATA_DIR", "/srv/tributary")
	_, out = printConfig(t)
	if !strings.Contains(out, "--data-dir=/srv/tributary ") {
		t.Errorf("TRIBUTARY_DATA_DIR not the default of --data-dir:\n%s", out)
	}
}

func TestServeConfigErrors(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
		code int
	}{
		{nil, []string{"--num.partitons", "3"}, "unknown flag: --num.partitons", 2},
		{nil, []string{"--set", "num.partitons=3"}, `unknown broker setting "num.partitons"`, 1},
		{nil, []string{"--set", "num.partitions"}, "want name=value", 2},
		{nil, []string{"--num.partitions", "many"}, "num.partitions", 1},
		{nil, []string{"--num.partitions", "0"}, "num.partitions must be at least 1", 1},
		{map[string]string{"TRIBUTARY_LOG_RETENTION_MS": "forever"}, nil, "env TRIBUTARY_LOG_RETENTION_MS", 1},
		{nil, []string{"--config", "/nonexistent/broker.properties"}, "serve: config", 1},
		{nil, []string{"stray"}, "unknown command", 2},
	} {
		t.Run(c.want, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			r := runCLI(t, "", append([]string{"serve", "--print-config"}, c.args...)...)
			if r.code != c.code {
				t.Fatalf("serve %v %v: exit %d, want %d: %s", c.env, c.args, r.code, c.code, r.stderr)
			}
			checkOneLineError(t, r.stderr, c.want)
		})
	}
}

// TestServeRefusesUnknownEnv: a misspelt TRIBUTARY_ variable is an error,
// as the same typo in the --config file or a flag is, with the variable
// it was probably meant to be; the test and benchmark harnesses' own
// variables are left alone.
func TestServeRefusesUnknownEnv(t *testing.T) {
	t.Setenv("TRIBUTARY_BENCH_CPUPROFILE", "/tmp/x") // a harness's: no error
	t.Setenv("TRIBUTARY_BIN", "/tmp/tributary")      // internal/clustertest's: no error
	t.Setenv("TRIBUTARY_POWERLOSS_BIN", "/tmp/tf")   // internal/clustertest's fault build: no error
	t.Setenv("TRIBUTARY_NUM_PARTITONS", "3")
	t.Setenv("TRIBUTARY_FROBNICATE", "1")
	r := runCLI(t, "", "serve", "--print-config")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", r.code, r.stderr)
	}
	checkOneLineError(t, r.stderr, "unknown environment variable TRIBUTARY_FROBNICATE, TRIBUTARY_NUM_PARTITONS (did you mean TRIBUTARY_NUM_PARTITIONS?): no such setting")
	if strings.Contains(r.stderr, "BENCH") || strings.Contains(r.stderr, "TRIBUTARY_BIN") || strings.Contains(r.stderr, "POWERLOSS") {
		t.Errorf("a harness variable is refused: %q", r.stderr)
	}
	os.Unsetenv("TRIBUTARY_NUM_PARTITONS")
	os.Unsetenv("TRIBUTARY_FROBNICATE")
	if r := runCLI(t, "", "serve", "--print-config"); r.code != 0 {
		t.Errorf("without the typos: exit %d, %q", r.code, r.stderr)
	}
}

// sampleConfig renders deploy/tributary.properties: every setting with its
// description and default, grouped as Kafka's docs group them.
func sampleConfig() string {
	defaults := server.DefaultBrokerSettings()
	values := defaults.Map()
	serverSettings := []string{
		server.BrokerAutoCreateTopics, server.BrokerNumPartitions, server.BrokerSocketRequestMaxBytes,
		server.BrokerQueuedMaxRequestBytes, server.BrokerConnectionsMaxIdleMs, server.BrokerFetchMaxBytes,
		server.BrokerFetchSessionCacheSlots, server.BrokerMaxConnections, server.BrokerMaxConnectionsPerIP, server.BrokerMaxConnectionsPerIPOverrides,
		server.BrokerLogRetentionCheckInterval,
	}
	logging := []string{server.BrokerLogLevel, server.BrokerLogFormat}
	security := []string{server.BrokerAuthorizerClassName, server.BrokerSuperUsers, server.BrokerAllowEveryoneIfNoACLFound}
	var topicDefaults, groups []string
	for _, n := range settingNames() {
		switch {
		case contains(serverSettings, n), contains(logging, n), contains(security, n):
		case server.BrokerTopicDefaults[n] != "":
			topicDefaults = append(topicDefaults, n)
		default:
			groups = append(groups, n)
		}
	}
	sort.Strings(topicDefaults)
	var b strings.Builder
	b.WriteString(`# Tributary broker settings: a Java properties file with Kafka's
# server.properties names, so lines from a Kafka broker's config carry over.
#
#   tributary serve --config deploy/tributary.properties
#
# Every value below is the default. Each setting can also come from the
# environment as TRIBUTARY_<NAME> (dots and dashes as underscores, upper case:
# TRIBUTARY_NUM_PARTITIONS=3) or from a flag (--num.partitions 3, or
# --set num.partitions=3). Lowest precedence first: defaults, this file, the
# environment, flags. "tributary serve --print-config" prints the result, and
# a name tributary does not know is an error, not a silent default.
#
# The listener and data dir are flags of serve (--listen, --advertise,
# --metrics-listen, --data-dir; env TRIBUTARY_LISTEN, ...), not settings here.
`)
	section := func(title string, names []string) {
		fmt.Fprintf(&b, "\n############################# %s #############################\n", title)
		for _, n := range names {
			fmt.Fprintf(&b, "\n# %s.\n%s=%s\n", settingDocs[n], n, values[n])
		}
	}
	section("Server", serverSettings)
	section("Topic defaults", topicDefaults)
	b.WriteString("\n# (Each topic default above is overridden per topic by the topic config it\n# names: tributary topic alter TOPIC --config retention.ms=3600000.)\n")
	section("Consumer groups", groups)
	section("Security", security)
	section("Logging", logging)
	return b.String()
}

// TestSampleConfig: deploy/tributary.properties documents every setting,
// loads, and equals the defaults.
func TestSampleConfig(t *testing.T) {
	want := sampleConfig()
	if *update {
		if err := os.WriteFile(sampleConfigPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(sampleConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s is out of date with settingDocs (go test -update rewrites it)", sampleConfigPath)
	}
	settings := server.DefaultBrokerSettings()
	if err := settings.ReadProperties(strings.NewReader(string(got)), sampleConfigPath); err != nil {
		t.Fatal(err)
	}
	defaults := server.DefaultBrokerSettings()
	if settings.Properties() != defaults.Properties() {
		t.Errorf("%s does not load to the defaults:\n%s", sampleConfigPath, settings.Properties())
	}
	seen := map[string]int{}
	for _, line := range strings.Split(string(got), "\n") {
		if k, _, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			seen[k]++
		}
	}
	for _, n := range settingNames() {
		if seen[n] != 1 {
			t.Errorf("%s sets %s %d times, want once", sampleConfigPath, n, seen[n])
		}
	}
	m, _ := printConfig(t, "--config", sampleConfigPath)
	if fmt.Sprint(m) != fmt.Sprint(defaults.Map()) {
		t.Errorf("serve --config %s --print-config differs from the defaults", sampleConfigPath)
	}
}

// TestServeKafkaServerProperties: a server.properties written for Kafka
// loads: its listeners and log.dirs become serve's defaults (serve's own
// flags still win), and settings that mean nothing here are named once.
func TestServeKafkaServerProperties(t *testing.T) {
	props := filepath.Join(t.TempDir(), "server.properties")
	writeFile(t, props, "node.id=1\nprocess.roles=broker,controller\nlisteners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://:9093\n"+
		"advertised.listeners=PLAINTEXT://broker.example:19092\nlog.dirs=/var/lib/kafka\nlog.retention.hours=24\nnum.io.threads=8\n")
	m, out := printConfig(t, "--config", props)
	if !strings.Contains(out, "--data-dir=/var/lib/kafka --listen=127.0.0.1:19092 --advertise=broker.example:19092 ") {
		t.Errorf("listeners and log.dirs not taken:\n%s", out)
	}
	if m["log.retention.ms"] != "86400000" {
		t.Errorf("log.retention.hours=24 gave log.retention.ms=%s", m["log.retention.ms"])
	}
	_, out = printConfig(t, "--config", props, "--data-dir", "/srv/t", "--listen", "127.0.0.1:9")
	if !strings.Contains(out, "--data-dir=/srv/t --listen=127.0.0.1:9 ") {
		t.Errorf("serve's flags do not win over the file:\n%s", out)
	}
	r := runCLI(t, "", "serve", "--config", props, "--print-config")
	if !strings.Contains(r.stderr, "Kafka settings accepted that do not apply to this broker: ") || !strings.Contains(r.stderr, "node.id") {
		t.Errorf("ignored settings not named: %q", r.stderr)
	}
}

// TestServeSeveralListeners: Kafka's listeners with custom names load as
// listeners of their own; --advertise, one address, is refused with more
// than one listener, and --listen still means one PLAINTEXT listener.
func TestServeSeveralListeners(t *testing.T) {
	props := filepath.Join(t.TempDir(), "server.properties")
	writeFile(t, props, "listeners=INTERNAL://127.0.0.1:19092,EXTERNAL://127.0.0.1:19093\n"+
		"listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT\n"+
		"advertised.listeners=EXTERNAL://kafka.example:19093\n")
	_, out := printConfig(t, "--config", props)
	if !strings.Contains(out, "# listeners=INTERNAL://127.0.0.1:19092,EXTERNAL://127.0.0.1:19093\n") {
		t.Errorf("listeners not shown:\n%s", out)
	}
	r := runCLI(t, "", "serve", "--config", props, "--advertise", "h:1", "--print-config")
	if r.code != 1 || !strings.Contains(r.stderr, "set advertised.listeners instead") {
		t.Errorf("--advertise with two listeners: exit %d: %s", r.code, r.stderr)
	}
	_, out = printConfig(t, "--config", props, "--listen", "127.0.0.1:9")
	if !strings.Contains(out, "--listen=127.0.0.1:9 ") || strings.Contains(out, "# listeners=") {
		t.Errorf("--listen does not replace the listeners:\n%s", out)
	}
}
