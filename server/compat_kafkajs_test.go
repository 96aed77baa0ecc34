package server

// Compatibility with kafkajs (Node.js, the protocol in pure JavaScript)
// over SASL: for each of SASL_PLAINTEXT and SASL_SSL and each of PLAIN and
// SCRAM-SHA-256, testdata/kafkajs/compat.js creates a topic, produces
// idempotently, consumes in a group and commits each record's offset, then
// fetches the group's offsets; the test checks what it saw and the
// committed offsets through franz-go on the PLAINTEXT listener.
//
// kafkajs comes from npm, pinned by testdata/kafkajs/package-lock.json,
// installed with `npm ci` once into the user's cache directory (keyed by
// the lock file's hash), never into the repository. Skipped, saying why,
// when node or npm is missing or the install fails (no registry).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// kafkajsTimeout bounds one script run; kafkajsDeadline, shorter, is the
// script's own, so a stuck client fails with its own message first.
const (
	kafkajsTimeout  = 90 * time.Second
	kafkajsDeadline = 60 * time.Second
	kafkajsInstall  = 3 * time.Minute
	kafkajsRecords  = 50
)

// kafkajsDir returns a directory holding compat.js with kafkajs installed
// beside it, installing it on first use; it skips t when it cannot.
func kafkajsDir(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not on PATH: the kafkajs compatibility test needs Node.js and npm", tool)
		}
	}
	src := filepath.Join("testdata", "kafkajs")
	lock, err := os.ReadFile(filepath.Join(src, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(lock)
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "tributary", "kafkajs-"+hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "kafkajs", "package.json")); err != nil {
		// Install into a fresh directory, then rename it into place: a
		// concurrent run or an interrupted install leaves nothing half
		// done under dir.
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			t.Fatal(err)
		}
		tmp, err := os.MkdirTemp(filepath.Dir(dir), "install-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(tmp)
		for _, f := range []string{"package.json", "package-lock.json"} {
			copyFile(t, filepath.Join(src, f), filepath.Join(tmp, f))
		}
		ctx, cancel := context.WithTimeout(context.Background(), kafkajsInstall)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = tmp
		cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
		cmd.WaitDelay = time.Second
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Skipf("npm ci of kafkajs failed (is the npm registry reachable?): %v\n%s", err, out)
		}
		if err := os.Rename(tmp, dir); err != nil {
			if _, statErr := os.Stat(filepath.Join(dir, "node_modules", "kafkajs", "package.json")); statErr != nil {
				t.Fatalf("installing kafkajs: %v", err)
			}
			// Another run installed it first.
		}
	}
	// The script goes beside node_modules so that require finds kafkajs.
	copyFile(t, filepath.Join(src, "compat.js"), filepath.Join(dir, "compat.js"))
	return dir
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to+".tmp", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(to+".tmp", to); err != nil {
		t.Fatal(err)
	}
}

// kafkajsSpec is compat.js's argument.
type kafkajsSpec struct {
	Broker     string `json:"broker"`
	SSL        bool   `json:"ssl"`
	CAFile     string `json:"ca_file"`
	Mechanism  string `json:"mechanism"`
	Username   string `json:"username"`
	Password   string `json:"password"`
	Topic      string `json:"topic"`
	Group      string `json:"group"`
	Records    int    `json:"records"`
	DeadlineMS int64  `json:"deadline_ms"`
}

// kafkajsResult is compat.js's answer.
type kafkajsResult struct {
	Produced  int              `json:"produced"`
	Consumed  int              `json:"consumed"`
	Values    []string         `json:"values"`
	Committed map[string]int64 `json:"committed"`
}

// TestKafkajsSASL: kafkajs produces, consumes in a group and commits over
// SASL_PLAINTEXT and SASL_SSL with PLAIN and SCRAM-SHA-256; every record
// comes back once and the group's commits are what franz-go reads.
func TestKafkajsSASL(t *testing.T) {
	if testing.Short() {
		t.Skip("kafkajs runs Node.js: skipped with -short")
	}
	dir := kafkajsDir(t)
	// One member per group: no reason to wait for others to join.
	b, ca := saslBroker(t, func(c *Config) { c.Groups.InitialRebalanceDelay = 0 })
	adm := kadm.NewClient(b.client())
	for _, listener := range []string{"SASL_PLAINTEXT", "SASL_SSL"} {
		for _, mech := range []struct{ kafka, kafkajs string }{
			{"PLAIN", "plain"},
			{"SCRAM-SHA-256", "scram-sha-256"},
		} {
			t.Run(listener+"/"+mech.kafka, func(t *testing.T) {
				name := strings.ToLower(listener + "-" + mech.kafka)
				spec := kafkajsSpec{
					Broker:     b.addrs[listener],
					SSL:        listener == "SASL_SSL",
					CAFile:     ca.CertFile,
					Mechanism:  mech.kafkajs,
					Username:   "alice",
					Password:   "alice-secret",
					Topic:      "kafkajs-" + name,
					Group:      "kafkajs-group-" + name,
					Records:    kafkajsRecords,
					DeadlineMS: kafkajsDeadline.Milliseconds(),
				}
				got := runKafkajs(t, dir, spec)
				if got.Produced < 1 || got.Consumed != kafkajsRecords {
					t.Fatalf("kafkajs produced %d batch acks, consumed %d records; want >= 1 and %d", got.Produced, got.Consumed, kafkajsRecords)
				}
				want := map[string]bool{}
				for i := range kafkajsRecords {
					want["v"+strconv.Itoa(i)] = true
				}
				for _, v := range got.Values {
					if !want[v] {
						t.Fatalf("kafkajs consumed %q: unknown or twice (values %v)", v, got.Values)
					}
					delete(want, v)
				}

				// The commits kafkajs made and fetched are the group's, as
				// another client reads them, and cover every record.
				ctx := testContext(t)
				ends, err := adm.ListEndOffsets(ctx, spec.Topic)
				if err != nil {
					t.Fatal(err)
				}
				offs, err := adm.FetchOffsets(ctx, spec.Group)
				if err != nil {
					t.Fatal(err)
				}
				var total int64
				ends.Each(func(e kadm.ListedOffset) {
					o, ok := offs.Lookup(spec.Topic, e.Partition)
					if !ok || o.At != e.Offset {
						t.Errorf("partition %d: committed %+v (found %v), want the end offset %d", e.Partition, o.At, ok, e.Offset)
					}
					if js := got.Committed[strconv.Itoa(int(e.Partition))]; js != e.Offset {
						t.Errorf("partition %d: kafkajs fetched committed offset %d, want %d", e.Partition, js, e.Offset)
					}
					total += e.Offset
				})
				if total != kafkajsRecords {
					t.Errorf("end offsets sum to %d, want %d records", total, kafkajsRecords)
				}
			})
		}
	}
}

func runKafkajs(t *testing.T, dir string, spec kafkajsSpec) kafkajsResult {
	t.Helper()
	arg, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), kafkajsTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "compat.js"), string(arg))
	cmd.Dir = dir
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kafkajs %s over %s: %v\nstderr:\n%s", spec.Mechanism, spec.Broker, err, stderr.String())
	}
	var res kafkajsResult
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &res); err != nil {
		t.Fatalf("kafkajs output %q: %v\nstderr:\n%s", stdout.String(), err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Logf("kafkajs stderr:\n%s", stderr.String())
	}
	return res
}
