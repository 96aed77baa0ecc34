package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// TestClusterMigrateCommand runs the migration as an operator does: a
// mistyped data dir is refused without being created; `cluster migrate`
// prepares a single broker's data dir and prints its topics; a second
// run, a single broker start and a cluster start under another node id
// are refused in one line; the real binary started as node 1 of a
// cluster serves the single broker's topic under its topic ID and
// records; once migrated the data dir refuses a single broker start and
// another migration.
func TestClusterMigrateCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d1")
	r := runCLI(t, "", "cluster", "migrate", "--data-dir", dir, "--node-id", "1")
	if r.code != 1 {
		t.Fatalf("migrate of a missing dir: exit %d: %s", r.code, r.stderr)
	}
	checkOneLineError(t, r.stderr, "no such file or directory")

	m, err := tlog.OpenManager(dir, tlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := m.CreateTopic("kept", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		b, err := recordbatch.Encode(nil, recordbatch.BatchOptions{}, []recordbatch.Record{{Timestamp: time.Now().UnixMilli(), Value: []byte{byte('a' + i)}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kept.Partitions[1].Append(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	r = runCLI(t, "", "cluster", "migrate", "--data-dir", dir, "--node-id", "1")
	if r.code != 0 {
		t.Fatalf("migrate: exit %d: %s", r.code, r.stderr)
	}
	if !regexp.MustCompile(`(?m)^kept\s+`+kept.ID.String()+`\s+2\s+3$`).MatchString(r.stdout) ||
		!strings.Contains(r.stdout, "prepared to join a cluster as node 1") {
		t.Errorf("migrate printed:\n%s", r.stdout)
	}
	r = runCLI(t, "", "cluster", "migrate", "--data-dir", dir, "--node-id", "1")
	if r.code != 1 {
		t.Fatalf("second migrate: exit %d", r.code)
	}
	checkOneLineError(t, r.stderr, "is prepared to join a cluster as node 1")
	r = runCLI(t, "", "serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--metrics-listen", "")
	if r.code != 1 {
		t.Fatalf("single broker on a prepared dir: exit %d: %s", r.code, r.stderr)
	}
	checkOneLineError(t, r.stderr, "delete that file to keep it a single broker")
	ctrl := freeLoopbackAddr(t)
	r = runCLI(t, "", "serve", "--data-dir", dir, "--node-id", "2", "--listen", "127.0.0.1:0", "--metrics-listen", "",
		"--controller-listen", ctrl, "--controller-quorum-voters", "2@"+ctrl)
	if r.code != 1 {
		t.Fatalf("cluster start as another node: exit %d: %s", r.code, r.stderr)
	}
	checkOneLineError(t, r.stderr, "was prepared to join as node 1")

	bin := buildBinary(t)
	srv := startServe(t, bin, dir, "--node-id", "1", "--controller-listen", ctrl, "--controller-quorum-voters", "1@"+ctrl)
	line := srv.waitForLine(t, "serving Kafka clients")
	addr := regexp.MustCompile(`listen=(\S+)`).FindStringSubmatch(line)
	if addr == nil {
		t.Fatalf("no address in %q", line)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr[1]), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"kept": {1: kgo.NewOffset().At(0)}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(ctx, "kept")
	if err != nil || [16]byte(td["kept"].ID) != [16]byte(kept.ID) || len(td["kept"].Partitions) != 2 || td["kept"].Partitions[1].Leader != 1 {
		t.Fatalf("kept in the cluster's metadata: %+v, %v; want id %s, 2 partitions led by 1", td["kept"], err, kept.ID)
	}
	for read := 0; read < 3; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of 3 records of kept-1: %v", read, ctx.Err())
		}
		read += fs.NumRecords()
	}
	srv.stop(t)

	r = runCLI(t, "", "serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--metrics-listen", "")
	if r.code != 1 {
		t.Fatalf("single broker on a migrated dir: exit %d: %s", r.code, r.stderr)
	}
	checkOneLineError(t, r.stderr, "start it with its cluster settings")
	r = runCLI(t, "", "cluster", "migrate", "--data-dir", dir, "--node-id", "1")
	if r.code != 1 {
		t.Fatalf("migrate of a migrated dir: exit %d", r.code)
	}
	checkOneLineError(t, r.stderr, "is a member of cluster")
}
