package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestServeLoadsStockKafkaServerProperties: the server.properties files
// Kafka ships load unchanged: their listeners and log.dirs become serve's
// defaults, and the settings that do not apply are named in one note,
// each once. testdata holds config/server.properties (ZooKeeper) and
// config/kraft/server.properties of apache/kafka's tag 3.8.0 as released,
// and 4.0.0's config/server.properties (the KRaft file, moved there when
// ZooKeeper went): trunk's config/kraft/reconfig-server.properties with
// 4.0's share-group lines, its settings checked line by line against a
// copy of the released file.
func TestServeLoadsStockKafkaServerProperties(t *testing.T) {
	for _, tt := range []struct {
		file, serve string
		ignored     []string
	}{
		{"kafka-3.8.0-server.properties", "--data-dir=/tmp/kafka-logs --listen=127.0.0.1:9092 ",
			[]string{"broker.id", "zookeeper.connect", "num.io.threads", "offsets.topic.replication.factor"}},
		{"kafka-3.8.0-kraft-server.properties", "--data-dir=/tmp/kraft-combined-logs --listen=:9092 --advertise=localhost:9092 ",
			[]string{"controller.listener.names", "num.io.threads", "transaction.state.log.min.isr"}},
		{"kafka-4.0.0-server.properties", "--data-dir=/tmp/kraft-combined-logs --listen=:9092 --advertise=localhost:9092 ",
			[]string{"controller.quorum.bootstrap.servers", "share.coordinator.state.topic.replication.factor", "num.network.threads"}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			r := runCLI(t, "", "serve", "--config", path, "--print-config")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, "# serve: "+tt.serve) {
				t.Errorf("listeners and log.dirs not taken:\n%s", r.stdout)
			}
			for _, want := range []string{"log.retention.ms=604800000\n", "log.segment.bytes=1073741824\n", "log.retention.check.interval.ms=300000\n"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("--print-config lacks %q", want)
				}
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "tributary: note: "+ignoredNoteTitle+": ") {
				t.Fatalf("want one note on stderr, got:\n%s", r.stderr)
			}
			named := map[string]int{}
			for _, group := range strings.Split(strings.TrimPrefix(lines[0], "tributary: note: "+ignoredNoteTitle+": "), "; ") {
				names, _, _ := strings.Cut(group, " (")
				for _, n := range strings.Split(names, ", ") {
					named[n]++
				}
			}
			for _, name := range tt.ignored {
				if named[name] != 1 {
					t.Errorf("%s named %d times in the note: %s", name, named[name], lines[0])
				}
			}
		})
	}
}

// TestServeKafkaPropertiesErrorsAllAtOnce: a file with several unknown or
// refused settings fails in one run naming every one of them.
func TestServeKafkaPropertiesErrorsAllAtOnce(t *testing.T) {
	props := filepath.Join(t.TempDir(), "server.properties")
	writeFile(t, props, "num.partitons=3\nssl.keystore.type=JKS\ncontroller.quorum.voters=1@h:9093,1@g:9093\nlog.retention.hours=168\n")
	r := runCLI(t, "", "serve", "--config", props, "--print-config")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		props + `:1: server: unknown broker setting "num.partitons" (did you mean "num.partitions"?)`,
		props + `:2: server: ssl.keystore.type="JKS": auth: TLS settings: ssl.keystore.type=JKS: only PEM is served`,
		props + `:3: server: controller.quorum.voters="1@h:9093,1@g:9093": node id 1 is named twice`,
	} {
		checkOneLineError(t, r.stderr, want)
	}
}

// TestServeSettingErrorsAllAtOnce: unknown or bad settings in the file,
// the environment and the flags are reported together, in one run.
func TestServeSettingErrorsAllAtOnce(t *testing.T) {
	props := filepath.Join(t.TempDir(), "server.properties")
	writeFile(t, props, "log.retention.hour=1\n")
	t.Setenv("TRIBUTARY_NUM_PARTITONS", "3")
	t.Setenv("TRIBUTARY_FETCH_MAX_BYTES", "lots")
	r := runCLI(t, "", "serve", "--config", props, "--set", "group.max.sise=3", "--print-config")
	if r.code != 1 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"TRIBUTARY_NUM_PARTITONS (did you mean TRIBUTARY_NUM_PARTITIONS?)",
		`:1: server: unknown broker setting "log.retention.hour" (did you mean "log.retention.hours"?)`,
		`serve: env TRIBUTARY_FETCH_MAX_BYTES: server: fetch.max.bytes="lots"`,
		`unknown broker setting "group.max.sise" (did you mean "group.max.size"?)`,
	} {
		checkOneLineError(t, r.stderr, want)
	}
}
