package log_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

var hostedID = log.TopicID{0xa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

// partitionDirs lists the data dir's directories that are not meta or
// .deleting leftovers, sorted.
func partitionDirs(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && e.Name() != "meta" {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// topicMetaFile reads the one topic metadata file of dir as JSON.
func topicMetaFile(t *testing.T, dir string) (path string, meta map[string]any) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "meta", "topics", "*.json"))
	if err != nil || len(files) != 1 {
		t.Fatalf("topic metadata files %v, %v; want one", files, err)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	return files[0], meta
}

// wantHosted checks that topic has count partitions of which exactly
// hosted have a log, through every accessor.
func wantHosted(t *testing.T, m *log.Manager, topic string, count int, hosted ...int32) {
	t.Helper()
	tp, ok := m.Topic(topic)
	if !ok {
		t.Fatalf("topic %s unknown", topic)
	}
	if len(tp.Partitions) != count {
		t.Fatalf("topic %s has %d partitions, want %d", topic, len(tp.Partitions), count)
	}
	if got := tp.Hosted(); !slices.Equal(got, hosted) {
		t.Fatalf("topic %s hosts %v, want %v", topic, got, hosted)
	}
	for p := int32(-1); p <= int32(count); p++ {
		want := slices.Contains(hosted, p)
		l, ok := m.Partition(topic, p)
		if ok != want || (l != nil) != want || (tp.PartitionLog(p) != nil) != want {
			t.Errorf("partition %d: Partition gives %v %v, PartitionLog %v; want hosted=%v", p, l, ok, tp.PartitionLog(p), want)
		}
	}
}

// TestCreateTopicHostingCreatesOnlyHostedPartitions: a cluster broker's
// topic is known whole (count, ID, configs) with a log, a directory and a
// place among the Manager's logs for its hosted partitions only; the
// metadata file lists them at version 2, and a restart loads exactly
// them with their data.
func TestCreateTopicHostingCreatesOnlyHostedPartitions(t *testing.T) {
	dir := t.TempDir()
	m, err := log.OpenManager(dir, quietOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateTopicHosting("t", log.TopicID{}, 4, nil, nil); !errors.Is(err, log.ErrInvalidTopic) {
		t.Errorf("zero id: %v, want ErrInvalidTopic", err)
	}
	if _, err := m.CreateTopicHosting("t", hostedID, 4, []int32{4}, nil); !errors.Is(err, log.ErrInvalidPartitions) {
		t.Errorf("hosting partition 4 of 4: %v, want ErrInvalidPartitions", err)
	}
	if dirs := partitionDirs(t, dir); len(dirs) != 0 {
		t.Fatalf("refused creations left %v", dirs)
	}
	tp, err := m.CreateTopicHosting("t", hostedID, 4, []int32{2, 0, 2}, map[string]string{"retention.ms": "5000"})
	if err != nil {
		t.Fatal(err)
	}
	if tp.ID != hostedID || tp.Overrides["retention.ms"] != "5000" {
		t.Fatalf("created %+v", tp)
	}
	wantHosted(t, m, "t", 4, 0, 2)
	if got, want := partitionDirs(t, dir), []string{"t-0", "t-2"}; !slices.Equal(got, want) {
		t.Fatalf("partition dirs %v, want %v", got, want)
	}
	_, meta := topicMetaFile(t, dir)
	if meta["version"] != 2.0 || meta["partitions"] != 4.0 || !slices.Equal(jsonInts(meta["hosted"]), []int{0, 2}) {
		t.Fatalf("metadata %v, want version 2, 4 partitions, hosted [0 2]", meta)
	}
	stored := appendOne(t, tp.Partitions[2], recordbatch.Build(3, 100, tsBase))
	// Config changes reach the hosted logs and skip the others.
	if err := m.AlterTopicConfig("t", map[string]string{"retention.ms": "7000"}); err != nil {
		t.Fatal(err)
	}
	if got := tp.Partitions[2].Config().RetentionMs; got != 7000 {
		t.Fatalf("retention.ms of partition 2 after the alteration: %d", got)
	}
	m.RunRetention()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	m = openManager(t, dir, quietOptions())
	wantHosted(t, m, "t", 4, 0, 2)
	l, _ := m.Partition("t", 2)
	checkContents(t, l, []storedBatch{stored})
	if got, _ := m.Topic("t"); got.Overrides["retention.ms"] != "7000" || got.ID != hostedID {
		t.Fatalf("after restart: %+v", got)
	}
}

func jsonInts(v any) []int {
	a, _ := v.([]any)
	out := []int{}
	for _, x := range a {
		f, _ := x.(float64)
		out = append(out, int(f))
	}
	return out
}

// TestHostAndRemovePartitionsChangeTheHostedSet: partitions come (also by
// growing the topic) and go; a removed partition's directory is deleted,
// its log closed; the topic hosting nothing stays known; hosting every
// partition again writes the metadata as a single broker's (version 1);
// a restart loads exactly the hosted set each time.
func TestHostAndRemovePartitionsChangeTheHostedSet(t *testing.T) {
	dir := t.TempDir()
	m, err := log.OpenManager(dir, quietOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateTopicHosting("t", hostedID, 3, []int32{}, nil); err != nil {
		t.Fatal(err)
	}
	wantHosted(t, m, "t", 3)
	if err := m.HostPartitions("nope", 3, []int32{0}); !errors.Is(err, log.ErrUnknownTopic) {
		t.Errorf("unknown topic: %v", err)
	}
	if err := m.HostPartitions("t", 3, []int32{3}); !errors.Is(err, log.ErrInvalidPartitions) {
		t.Errorf("partition 3 of 3: %v", err)
	}
	if err := m.RemovePartitions("t", []int32{-1}); !errors.Is(err, log.ErrInvalidPartitions) {
		t.Errorf("remove partition -1: %v", err)
	}
	if err := m.HostPartitions("t", 3, []int32{1}); err != nil {
		t.Fatal(err)
	}
	l1, _ := m.Partition("t", 1)
	b1 := appendOne(t, l1, recordbatch.Build(2, 100, tsBase))
	// Grown to 6, hosting the new 5 and (again) 1.
	if err := m.HostPartitions("t", 6, []int32{5, 1}); err != nil {
		t.Fatal(err)
	}
	wantHosted(t, m, "t", 6, 1, 5)
	if l, _ := m.Partition("t", 1); l != l1 {
		t.Fatal("hosting a hosted partition again replaced its log")
	}
	if got, want := partitionDirs(t, dir), []string{"t-1", "t-5"}; !slices.Equal(got, want) {
		t.Fatalf("partition dirs %v, want %v", got, want)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	m, err = log.OpenManager(dir, quietOptions())
	if err != nil {
		t.Fatal(err)
	}
	wantHosted(t, m, "t", 6, 1, 5)
	l1, _ = m.Partition("t", 1)
	checkContents(t, l1, []storedBatch{b1})
	// A view read before the removal stays readable until released.
	view, err := l1.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.RemovePartitions("t", []int32{1, 2}); err != nil {
		t.Fatal(err)
	}
	if string(view.Data) != string(b1.data) {
		t.Error("a view read before the removal changed")
	}
	view.Release()
	if _, err := l1.Append(recordbatch.Build(1, 100, tsBase)); !errors.Is(err, log.ErrClosed) {
		t.Errorf("append to a removed partition: %v, want ErrClosed", err)
	}
	wantHosted(t, m, "t", 6, 5)
	if got, want := partitionDirs(t, dir), []string{"t-5"}; !slices.Equal(got, want) {
		t.Fatalf("partition dirs after the removal %v, want %v", got, want)
	}
	if err := m.RemovePartitions("t", []int32{5}); err != nil {
		t.Fatal(err)
	}
	wantHosted(t, m, "t", 6)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	m, err = log.OpenManager(dir, quietOptions())
	if err != nil {
		t.Fatal(err)
	}
	wantHosted(t, m, "t", 6)
	if dirs := partitionDirs(t, dir); len(dirs) != 0 {
		t.Fatalf("partition dirs of a topic hosting nothing: %v", dirs)
	}
	if err := m.HostPartitions("t", 0, []int32{0, 1, 2, 3, 4, 5}); err != nil {
		t.Fatal(err)
	}
	wantHosted(t, m, "t", 6, 0, 1, 2, 3, 4, 5)
	if _, meta := topicMetaFile(t, dir); meta["version"] != 1.0 || meta["hosted"] != nil {
		t.Fatalf("metadata of a topic hosting every partition: %v, want version 1 without hosted", meta)
	}
	if err := m.DeleteTopic("t"); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if dirs := partitionDirs(t, dir); len(dirs) != 0 {
		t.Fatalf("dirs after the topic's deletion: %v", dirs)
	}
}

// TestTopicMetadataVersion1IsRead: a single broker's topic is written
// exactly as before (version 1, no hosted list: every partition), and a
// version 1 file is read as every partition hosted.
func TestTopicMetadataVersion1IsRead(t *testing.T) {
	dir := t.TempDir()
	m, err := log.OpenManager(dir, quietOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateTopic("dense", 3, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.AddPartitions("dense", 4); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	path, meta := topicMetaFile(t, dir)
	if meta["version"] != 1.0 || meta["partitions"] != 4.0 {
		t.Fatalf("a dense topic's metadata %v, want version 1 and 4 partitions", meta)
	}
	if _, ok := meta["hosted"]; ok {
		t.Fatalf("a dense topic's metadata lists hosted partitions: %v", meta)
	}
	// As the release before wrote it.
	v1 := `{"version": 1, "name": "dense", "id": "` + strings.TrimSuffix(filepath.Base(path), ".json") + `", "partitions": 4}`
	if err := os.WriteFile(path, []byte(v1), 0o644); err != nil {
		t.Fatal(err)
	}
	m = openManager(t, dir, quietOptions())
	wantHosted(t, m, "dense", 4, 0, 1, 2, 3)
}

// TestTopicMetadataRefusesBadHostedLists: a file of an unknown version,
// or whose hosted list is out of range, repeated, or at version 1, stops
// the open with an error naming the file instead of loading a guess.
func TestTopicMetadataRefusesBadHostedLists(t *testing.T) {
	id := "0a0102030405060708090a0b0c0d0e0f"
	for _, tc := range []struct{ name, json string }{
		{"version 3", `{"version": 3, "name": "t", "id": "` + id + `", "partitions": 2}`},
		{"out of range", `{"version": 2, "name": "t", "id": "` + id + `", "partitions": 2, "hosted": [2]}`},
		{"repeated", `{"version": 2, "name": "t", "id": "` + id + `", "partitions": 2, "hosted": [1, 1]}`},
		{"descending", `{"version": 2, "name": "t", "id": "` + id + `", "partitions": 2, "hosted": [1, 0]}`},
		{"hosted at version 1", `{"version": 1, "name": "t", "id": "` + id + `", "partitions": 2, "hosted": [1]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "meta", "topics", id+".json")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(tc.json), 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := log.OpenManager(dir, quietOptions())
			if err == nil {
				m.Close()
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
		})
	}
}

// TestRemovePartitionsCrashLeavesNoHalfReplica: whatever step of a
// removal (or of hosting a partition) a crash interrupts, the next open
// serves the partitions the metadata lists, whole, and deletes what is
// left of the others: a directory the metadata no longer lists, with some
// of its files gone, or a .deleting one.
func TestRemovePartitionsCrashLeavesNoHalfReplica(t *testing.T) {
	for _, tc := range []struct {
		name string
		// crash leaves dir as a crash at that step would: the topic "t"
		// hosted 0 and 1, partition 1 is being removed (or hosted).
		crash func(t *testing.T, dir string)
	}{
		{"metadata written, directory not yet renamed", func(t *testing.T, dir string) {
			unlist(t, dir, 1)
		}},
		{"metadata written, directory half deleted in place", func(t *testing.T, dir string) {
			unlist(t, dir, 1)
			logs, _ := filepath.Glob(filepath.Join(dir, "t-1", "*.log"))
			for _, f := range logs {
				if err := os.Remove(f); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"metadata written, directory renamed to .deleting", func(t *testing.T, dir string) {
			unlist(t, dir, 1)
			if err := os.Rename(filepath.Join(dir, "t-1"), filepath.Join(dir, "0011223344556677.deleting")); err != nil {
				t.Fatal(err)
			}
		}},
		{"hosting partition 2: directory created, metadata not written yet", func(t *testing.T, dir string) {
			unlist(t, dir, 1)
			copyDataDir(t, filepath.Join(dir, "t-1"), filepath.Join(dir, "t-2"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			m, err := log.OpenManager(dir, quietOptions())
			if err != nil {
				t.Fatal(err)
			}
			tp, err := m.CreateTopicHosting("t", hostedID, 3, []int32{0, 1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			b0 := appendOne(t, tp.Partitions[0], recordbatch.Build(2, 100, tsBase))
			appendOne(t, tp.Partitions[1], recordbatch.Build(2, 100, tsBase))
			// kill -9: the files as they are, no clean stop.
			crashed := t.TempDir()
			copyDataDir(t, dir, crashed)
			m.Close()
			tc.crash(t, crashed)

			m = openManager(t, crashed, quietOptions())
			wantHosted(t, m, "t", 3, 0)
			l0, _ := m.Partition("t", 0)
			checkContents(t, l0, []storedBatch{b0})
			if got, want := partitionDirs(t, crashed), []string{"t-0"}; !slices.Equal(got, want) {
				t.Fatalf("dirs after the open %v, want %v", got, want)
			}
			// Hosted again, partition 1 starts empty: nothing of the
			// removed replica comes back.
			if err := m.HostPartitions("t", 3, []int32{1}); err != nil {
				t.Fatal(err)
			}
			if l1, _ := m.Partition("t", 1); l1.NextOffset() != 0 {
				t.Fatalf("partition 1 hosted again ends at %d, want an empty log", l1.NextOffset())
			}
		})
	}
}

// unlist rewrites the topic metadata of dir without partition p, as the
// first step of a removal does.
func unlist(t *testing.T, dir string, p int) {
	t.Helper()
	path, meta := topicMetaFile(t, dir)
	var hosted []int
	for _, h := range jsonInts(meta["hosted"]) {
		if h != p {
			hosted = append(hosted, h)
		}
	}
	meta["version"], meta["hosted"] = 2, hosted
	b, err := json.Marshal(meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyDataDir copies every file of a live data dir (not its lock) to dst:
// what a restart after kill -9 finds.
func copyDataDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if d.Name() == ".lock" {
			return nil
		}
		copyFile(t, path, filepath.Join(dst, rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestListPartitionsOfASparseDataDir: the offline listing (tributary
// inspect --verify) lists the hosted partitions only, and names a
// directory of an unhosted partition as a leftover, not a problem.
func TestListPartitionsOfASparseDataDir(t *testing.T) {
	dir := t.TempDir()
	m := openManager(t, dir, quietOptions())
	if _, err := m.CreateTopicHosting("t", hostedID, 3, []int32{2}, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "t-0"), 0o755); err != nil {
		t.Fatal(err)
	}
	dd, err := log.ListPartitions(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(dd.Problems) != 0 || len(dd.Partitions) != 1 || dd.Partitions[0].Partition != 2 {
		t.Fatalf("listed %+v, problems %v; want partition 2 alone", dd.Partitions, dd.Problems)
	}
	if len(dd.Warnings) != 1 || !strings.Contains(dd.Warnings[0].Err.Error(), "does not host") {
		t.Fatalf("warnings %v, want one naming t-0 unhosted", dd.Warnings)
	}
}
