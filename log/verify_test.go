package log_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/segment"
)

// closedLog writes a log of three segments in a new dir and closes it.
func closedLog(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l, err := log.Open(dir, quietConfig())
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		appendRecords(t, l, 4, 2, tsBase, 10)
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func verifyPartition(t *testing.T, dir string) log.PartitionReport {
	t.Helper()
	r, err := log.VerifyPartition(dir, log.VerifyOptions{IndexIntervalBytes: quietConfig().IndexIntervalBytes})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerifyPartition(t *testing.T) {
	tests := []struct {
		name string
		edit func(t *testing.T, dir string)
		// problem and warning are substrings of the expected single
		// problem and warning; "" for none.
		problem, warning string
	}{
		{"clean", func(*testing.T, string) {}, "", ""},
		{"segment lost from the middle", func(t *testing.T, dir string) {
			if err := segment.RemoveFiles(dir, 8); err != nil {
				t.Fatal(err)
			}
		}, "offsets [8, 16) (8) are lost: no segment holds these offsets", ""},
		{"last segments lost", func(t *testing.T, dir string) {
			segment.RemoveFiles(dir, 16)
			segment.RemoveFiles(dir, 24)
		}, "offsets up to 24 were flushed", "producer snapshot covers offsets up to 24"},
		{"unreadable cleaner checkpoint", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, log.CleanerCheckpointFile), []byte("TRCL garbage"), 0o644)
		}, "unreadable cleaner checkpoint", ""},
		{"unreadable producer snapshot", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, log.ProducerSnapshotFile), []byte("nope"), 0o644)
		}, "unreadable producer snapshot", ""},
		{"leftover cleaner output", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, segment.FileName(0, ".log.cleaned")), nil, 0o644)
		}, "", "uncommitted cleaner output"},
		{"index without its log", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, segment.FileName(40, segment.IndexSuffix)), nil, 0o644)
		}, "", "index without its .log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := closedLog(t)
			tt.edit(t, dir)
			r := verifyPartition(t, dir)
			check := func(kind string, got []segment.Problem, want string) {
				if want == "" && len(got) != 0 || want != "" && (len(got) != 1 || !strings.Contains(got[0].Error(), want)) {
					t.Errorf("%s: %v, want one containing %q", kind, got, want)
				}
			}
			check("problems", r.Problems, tt.problem)
			check("warnings", r.Warnings, tt.warning)
			if tt.name == "segment lost from the middle" && (len(r.Lost) != 1 || r.Lost[0].OffsetRange != (log.OffsetRange{From: 8, To: 16})) {
				t.Errorf("lost: %v, want [8, 16)", r.Lost)
			}
			if tt.name == "clean" && (len(r.Segments) != 4 || r.LogStartOffset != 0 || r.LogEndOffset != 24 ||
				r.Checkpoint == nil || !r.Checkpoint.CleanShutdown || r.Checkpoint.RecoveryOffset != 24 || r.CleanedOffset != -1) {
				t.Errorf("report: %+v", r)
			}
		})
	}
}

func TestListPartitions(t *testing.T) {
	dir := t.TempDir()
	m, err := log.OpenManager(dir, log.Options{Defaults: ptr(quietConfig())})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateTopic("b", 2, map[string]string{"index.interval.bytes": "100"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateTopic("a", 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(dir, "b-1"))
	os.Mkdir(filepath.Join(dir, "c-0"), 0o755)

	dd, err := log.ListPartitions(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(dd.Partitions) != 2 || dd.Partitions[0].Topic != "a" || dd.Partitions[1].Topic != "b" ||
		dd.Partitions[1].Partition != 0 || dd.Partitions[1].Config.IndexIntervalBytes != 100 {
		t.Errorf("partitions: %+v", dd.Partitions)
	}
	if len(dd.Problems) != 1 || !errors.Is(&dd.Problems[0], log.ErrMissing) || !strings.HasSuffix(dd.Problems[0].Path, "b-1") {
		t.Errorf("problems: %v", dd.Problems)
	}
	if len(dd.Warnings) != 1 || !strings.HasSuffix(dd.Warnings[0].Path, "c-0") {
		t.Errorf("warnings: %v", dd.Warnings)
	}
	if _, err := log.ListPartitions(filepath.Join(dir, "a-0")); err == nil {
		t.Error("a partition dir listed as a data dir")
	}
}

func ptr[T any](v T) *T { return &v }
