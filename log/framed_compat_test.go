package log

import (
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tributary-io/tributary/internal/framedfile"
	"github.com/tributary-io/tributary/recordbatch"
)

// Files written by the encoders before package framedfile (version 1, the
// legacy frame) must still be read, and are rewritten at version 2. The
// files in testdata/v1 were written by those encoders.

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "v1", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVersion1FilesDecode(t *testing.T) {
	t.Run(CheckpointFile, func(t *testing.T) {
		c, err := decodeCheckpoint(readGolden(t, CheckpointFile))
		want := checkpoint{clean: true, indexFormat: 2, recoveryOffset: 4242, logStartOffset: 17}
		if err != nil || c != want {
			t.Fatalf("got %+v %v, want %+v", c, err, want)
		}
	})
	t.Run(CleanerCheckpointFile, func(t *testing.T) {
		if off, err := decodeCleanerCheckpoint(readGolden(t, CleanerCheckpointFile)); err != nil || off != 1234 {
			t.Fatalf("got %d %v, want 1234", off, err)
		}
	})
	t.Run(producerIDsFile, func(t *testing.T) {
		if next, err := decodeProducerIDs(readGolden(t, producerIDsFile)); err != nil || next != 5000 {
			t.Fatalf("got %d %v, want 5000", next, err)
		}
	})
	t.Run(ProducerSnapshotFile, func(t *testing.T) {
		s, err := decodeProducerSnapshot(readGolden(t, ProducerSnapshotFile))
		if err != nil || s.offset != 150 || !reflect.DeepEqual(s.producers, sampleProducers()) {
			t.Fatalf("got offset %d, %d producers, %v; want the sample table at 150", s.offset, len(s.producers), err)
		}
	})
	// A version-1 body with its reserved field set was never written.
	for _, name := range []string{CleanerCheckpointFile, producerIDsFile, ProducerSnapshotFile} {
		b := readGolden(t, name)
		b[7] = 1
		binary.BigEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], crc32.MakeTable(crc32.Castagnoli)))
		var err error
		switch name {
		case CleanerCheckpointFile:
			_, err = decodeCleanerCheckpoint(b)
		case producerIDsFile:
			_, err = decodeProducerIDs(b)
		default:
			_, err = decodeProducerSnapshot(b)
		}
		if err == nil {
			t.Errorf("%s: version 1 with a reserved field of 1 accepted", name)
		}
	}
}

// toVersion1 rewrites a current framed file in the frame and payload
// version 1 had: reserved says whether the payload started with a
// reserved u16 (all but the recovery checkpoint, whose flags were there
// and are now the payload's first field).
func toVersion1(t *testing.T, path string, f framedfile.Format, reserved bool) {
	t.Helper()
	p, _, err := f.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	b := append([]byte(f.Magic), 0, 1)
	if reserved {
		b = append(b, 0, 0)
	}
	b = append(b, p...)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileVersion(t *testing.T, path string) uint16 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 6 {
		t.Fatalf("%s: %v", path, err)
	}
	return binary.BigEndian.Uint16(b[4:])
}

// TestOpenReadsVersion1FilesAndWritesVersion2: a log closed by the
// previous release reopens clean, with its producers, from its version-1
// files, and its next writes are at version 2.
func TestOpenReadsVersion1FilesAndWritesVersion2(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.SegmentIndexBytes = 16 << 10
	cfg.Logger = slog.New(slog.DiscardHandler)
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		b := recordbatch.Build(2, 10, 1_700_000_000_000)
		binary.BigEndian.PutUint64(b[recordbatch.ProducerIDPos:], uint64(40+i))
		binary.BigEndian.PutUint16(b[recordbatch.ProducerEpochPos:], 1)
		binary.BigEndian.PutUint32(b[recordbatch.BaseSequencePos:], 0)
		recordbatch.SetCRC(b)
		if _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeCleanerCheckpoint(dir, 0); err != nil {
		t.Fatal(err)
	}
	want := l.Producers()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files := []struct {
		name     string
		f        framedfile.Format
		reserved bool
	}{
		{CheckpointFile, checkpointFormat, false},
		{ProducerSnapshotFile, producerSnapshotFormat, true},
		{CleanerCheckpointFile, cleanerCkptFormat, true},
	}
	for _, f := range files {
		toVersion1(t, filepath.Join(dir, f.name), f.f, f.reserved)
	}
	l, err = Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r := l.Recovery(); !r.Clean || r.BytesScanned != 0 {
		t.Errorf("reopen from version-1 files was not clean: %+v", r)
	}
	if got := l.Producers(); !reflect.DeepEqual(got, want) {
		t.Errorf("producers from a version-1 snapshot: %+v, want %+v", got, want)
	}
	if err := writeCleanerCheckpoint(dir, 0); err != nil {
		t.Fatal(err)
	}
	l.producers.version++ // the table is unchanged: force the snapshot's rewrite
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if v := fileVersion(t, filepath.Join(dir, f.name)); v != f.f.Version {
			t.Errorf("%s rewritten at version %d, want %d", f.name, v, f.f.Version)
		}
	}
}

// TestManagerReadsVersion1ProducerIDs: a data dir whose producer-id
// reservation the previous release wrote resumes after it, and the next
// reservation is written at version 2.
func TestManagerReadsVersion1ProducerIDs(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, metaDir), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, metaDir, producerIDsFile)
	if err := os.WriteFile(path, readGolden(t, producerIDsFile), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := OpenManager(dir, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if id, err := m.AllocateProducerID(); err != nil || id != 5000 {
		t.Fatalf("first id after a version-1 reservation of 5000: %d %v", id, err)
	}
	if v := fileVersion(t, path); v != producerIDsFormat.Version {
		t.Fatalf("reservation rewritten at version %d, want %d", v, producerIDsFormat.Version)
	}
}
