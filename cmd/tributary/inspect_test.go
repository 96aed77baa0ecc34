package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

// inspectBaseTs is the first record timestamp of the test data: fixed, so
// the listings are golden (retention.ms=-1 keeps the old records).
const inspectBaseTs = 1_700_000_000_000

var inspectCodecs = []recordbatch.Codec{
	recordbatch.CodecNone, recordbatch.CodecGzip, recordbatch.CodecSnappy, recordbatch.CodecLZ4, recordbatch.CodecZstd,
}

// inspectRecords returns the records of test batch i.
func inspectRecords(i int) []recordbatch.Record {
	recs := make([]recordbatch.Record, 3)
	for j := range recs {
		recs[j] = recordbatch.Record{
			Offset:    int64(j),
			Timestamp: inspectBaseTs + int64(i*10+j),
			Key:       fmt.Appendf(nil, "key-%d-%d", i, j),
			Value:     []byte(strings.Repeat(fmt.Sprintf("value %d.%d ", i, j), 8)),
			Headers:   []recordbatch.RecordHeader{{Key: "trace", Value: fmt.Appendf(nil, "t%d", i)}},
		}
	}
	if i == 1 {
		recs[2].Value = []byte{0, 1, 2, 0xff} // binary: printed as hex
		recs[2].Headers = nil
	}
	return recs
}

// inspectTestData appends the test batches to an open manager: topic
// events (2 partitions; partition 0 gets ten batches in every codec, one
// from an idempotent producer, across several segments) and a compacted
// topic users whose cleaner left offset gaps.
func inspectTestData(t *testing.T, m *tlog.Manager) {
	t.Helper()
	events, err := m.CreateTopic("events", 2, map[string]string{
		"retention.ms": "-1", "segment.bytes": "1024", "index.interval.bytes": "256",
	})
	if err != nil {
		t.Fatal(err)
	}
	p0 := events.Partitions[0]
	for i := range 10 {
		o := recordbatch.BatchOptions{Codec: inspectCodecs[i%len(inspectCodecs)]}
		if i == 7 {
			o.Idempotent, o.ProducerID, o.ProducerEpoch, o.BaseSequence = true, 1000, 0, 0
		}
		b, err := recordbatch.Encode(nil, o, inspectRecords(i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p0.Append(b); err != nil {
			t.Fatalf("append batch %d: %v", i, err)
		}
	}
	one, err := recordbatch.Encode(nil, recordbatch.BatchOptions{}, inspectRecords(20)[:1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.Partitions[1].Append(one); err != nil {
		t.Fatal(err)
	}

	users, err := m.CreateTopic("users", 1, map[string]string{
		"retention.ms": "-1", "cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0",
		"segment.bytes": "1024", "index.interval.bytes": "128", "delete.retention.ms": "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	u := users.Partitions[0]
	for i := range 12 {
		// Keys repeat, so whole batches are superseded and dropped.
		r := recordbatch.Record{Timestamp: inspectBaseTs + int64(i), Key: fmt.Appendf(nil, "user-%d", i%3), Value: fmt.Appendf(nil, "v%d", i)}
		b, err := recordbatch.Encode(nil, recordbatch.BatchOptions{Codec: recordbatch.CodecZstd}, []recordbatch.Record{r})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := u.Append(b); err != nil {
			t.Fatal(err)
		}
		if i%4 == 3 {
			if err := u.Roll(); err != nil {
				t.Fatal(err)
			}
		}
	}
	m.RunCompaction()
}

// inspectDataDir builds a data dir with the test data, closed cleanly.
func inspectDataDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	m, err := tlog.OpenManager(dir, tlog.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	inspectTestData(t, m)
	// Every partition gets a checkpoint file (a clean stop creates none
	// for a partition whose log start did not move), which Close makes
	// clean.
	for _, topic := range m.Topics() {
		for _, l := range topic.Partitions {
			if err := l.Checkpoint(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// inspectCLI runs tributary inspect in-process on a fresh command tree.
func inspectCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	root := newRootCmd()
	root.AddCommand(newInspectCmd())
	var out, errb bytes.Buffer
	code := execute(root, append([]string{"inspect"}, args...), strings.NewReader(""), &out, &errb)
	return cliResult{out.String(), errb.String(), code}
}

func inspectMust(t *testing.T, args ...string) cliResult {
	t.Helper()
	r := inspectCLI(t, args...)
	if r.code != 0 {
		t.Fatalf("tributary inspect %s: exit %d\nstdout:\n%s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// inspectFails runs inspect expecting exit status code and a one-line
// error containing every string of want.
func inspectFails(t *testing.T, code int, args []string, want ...string) cliResult {
	t.Helper()
	r := inspectCLI(t, args...)
	if r.code != code {
		t.Fatalf("tributary inspect %s: exit %d, want %d\nstdout:\n%s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasPrefix(r.stderr, "tributary: ") {
		t.Fatalf("error is not one line: %q", r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Fatalf("error %q does not contain %q\nstdout:\n%s", r.stderr, w, r.stdout)
		}
	}
	return r
}

// inspectGolden compares got, with the data dir's path replaced by DATA,
// with testdata/name (rewritten with -update).
func inspectGolden(t *testing.T, name, dir, got string) {
	t.Helper()
	got = strings.ReplaceAll(got, dir, "DATA")
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// inspectSegments returns the .log files of a partition dir, in offset order.
func inspectSegments(t *testing.T, dir string) []string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no segments in %s: %v", dir, err)
	}
	sort.Strings(logs)
	return logs
}

// inspectFileHashes fingerprints every file under dir: name, mode, size, mtime
// and content.
func inspectFileHashes(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		sum := ""
		if !d.IsDir() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sum = fmt.Sprintf("%x", sha256.Sum256(b))
		}
		out[path] = fmt.Sprintf("%v %d %v %s", fi.Mode(), fi.Size(), fi.ModTime().UnixNano(), sum)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestInspectListing(t *testing.T) {
	dir := inspectDataDir(t)
	before := inspectFileHashes(t, dir)

	r := inspectMust(t, dir)
	inspectGolden(t, "inspect_datadir.golden", dir, r.stdout)
	r = inspectMust(t, filepath.Join(dir, "events-0"))
	inspectGolden(t, "inspect_partition.golden", dir, r.stdout)
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		if !strings.Contains(r.stdout, " "+codec+" ") {
			t.Errorf("partition listing has no %s batch", codec)
		}
	}
	seg := inspectSegments(t, filepath.Join(dir, "events-0"))[0]
	r = inspectMust(t, seg, "--records")
	inspectGolden(t, "inspect_segment_records.golden", dir, r.stdout)

	if after := inspectFileHashes(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("inspect changed the data dir:\nbefore %v\nafter  %v", before, after)
	}
}

// TestInspectRecordsJSON decodes every record of every codec back to what
// was appended.
func TestInspectRecordsJSON(t *testing.T) {
	dir := inspectDataDir(t)
	r := inspectMust(t, filepath.Join(dir, "events-0"), "--records", "--output", "json")
	var doc struct {
		Kind       string `json:"kind"`
		Damaged    bool   `json:"damaged"`
		Partitions []struct {
			Topic        string `json:"topic"`
			LogEndOffset int64  `json:"log_end_offset"`
			Segments     []struct {
				Batches []struct {
					BaseOffset   int64  `json:"base_offset"`
					Codec        string `json:"codec"`
					ProducerID   int64  `json:"producer_id"`
					BaseSequence int32  `json:"base_sequence"`
					Problem      string `json:"problem"`
					Records      []struct {
						Offset    int64           `json:"offset"`
						Timestamp int64           `json:"timestamp"`
						Key       string          `json:"key"`
						Value     json.RawMessage `json:"value"`
						Headers   []struct {
							Key   string `json:"key"`
							Value string `json:"value"`
						} `json:"headers"`
					} `json:"records"`
				} `json:"batches"`
			} `json:"segments"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if doc.Kind != kindPartition || doc.Damaged || len(doc.Partitions) != 1 || doc.Partitions[0].LogEndOffset != 30 {
		t.Fatalf("report: %+v", doc)
	}
	i := 0
	codecs := map[string]bool{}
	for _, s := range doc.Partitions[0].Segments {
		for _, b := range s.Batches {
			want := inspectRecords(i)
			codecs[b.Codec] = true
			if b.Codec != inspectCodecs[i%len(inspectCodecs)].String() || b.BaseOffset != int64(3*i) || b.Problem != "" {
				t.Errorf("batch %d: %+v", i, b)
			}
			if (b.ProducerID == 1000) != (i == 7) {
				t.Errorf("batch %d: producer id %d", i, b.ProducerID)
			}
			if len(b.Records) != len(want) {
				t.Fatalf("batch %d (%s): %d records, want %d", i, b.Codec, len(b.Records), len(want))
			}
			for j, rec := range b.Records {
				wantValue, _ := json.Marshal(string(want[j].Value))
				if i == 1 && j == 2 {
					wantValue = []byte(`{"base64":"AAEC/w=="}`)
				}
				var got bytes.Buffer
				json.Compact(&got, rec.Value)
				if rec.Offset != int64(3*i+j) || rec.Timestamp != want[j].Timestamp || rec.Key != string(want[j].Key) ||
					got.String() != string(wantValue) || len(rec.Headers) != len(want[j].Headers) {
					t.Errorf("batch %d (%s) record %d: %+v", i, b.Codec, j, rec)
				}
			}
			i++
		}
	}
	if i != 10 || len(codecs) != 5 {
		t.Fatalf("%d batches in codecs %v, want 10 in all 5", i, codecs)
	}
}

func TestInspectVerifyClean(t *testing.T) {
	dir := inspectDataDir(t)
	if n := len(inspectSegments(t, filepath.Join(dir, "events-0"))); n < 3 {
		t.Fatalf("events-0 has %d segments, want several", n)
	}
	if ck, err := os.Stat(filepath.Join(dir, "users-0", tlog.CleanerCheckpointFile)); err != nil || ck.Size() == 0 {
		t.Fatalf("users-0 was not compacted: %v", err)
	}
	r := inspectMust(t, dir, "--verify")
	if !strings.Contains(r.stdout, "no damage found") || strings.Contains(r.stdout, "problems:") {
		t.Fatalf("verify of a clean data dir:\n%s", r.stdout)
	}
	inspectMust(t, filepath.Join(dir, "users-0"), "--verify")
	for _, seg := range inspectSegments(t, filepath.Join(dir, "users-0")) {
		inspectMust(t, seg, "--verify")
	}
	r = inspectMust(t, dir, "--verify", "--output", "json")
	if !strings.Contains(r.stdout, `"damaged": false`) {
		t.Fatalf("json verify:\n%s", r.stdout)
	}
}

// TestInspectVerifyWhileOpen inspects a data dir a Manager holds (lock
// taken, active segments' indexes untrimmed) without disturbing it.
func TestInspectVerifyWhileOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	m, err := tlog.OpenManager(dir, tlog.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	inspectTestData(t, m)
	r := inspectMust(t, dir, "--verify")
	if !strings.Contains(r.stdout, "no damage found") {
		t.Fatalf("verify of an open data dir:\n%s", r.stdout)
	}
	p, _ := m.Partition("events", 0)
	b, _ := recordbatch.Encode(nil, recordbatch.BatchOptions{}, inspectRecords(30))
	if _, err := p.Append(b); err != nil {
		t.Fatalf("append after inspect: %v", err)
	}
}

// inspectMutate flips, truncates or overwrites bytes of a file in place.
func inspectMutate(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

// inspectBatchAt returns the position and base offset of the n-th batch of a
// segment file.
func inspectBatchAt(t *testing.T, path string, n int) (pos int, h recordbatch.Header) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		h, err := recordbatch.ParseHeader(b[pos:])
		if err != nil {
			t.Fatalf("batch %d of %s: %v", n, path, err)
		}
		if i == n {
			return pos, h
		}
		pos += h.Size()
	}
}

func TestInspectVerifyDetectsDamage(t *testing.T) {
	type damage struct {
		name string
		// apply damages the partition dir and returns what the error line
		// and the problems list must name.
		apply func(t *testing.T, part string) []string
	}
	cases := []damage{
		{"flipped byte in a record", func(t *testing.T, part string) []string {
			seg := inspectSegments(t, part)[1]
			pos, h := inspectBatchAt(t, seg, 1)
			inspectMutate(t, seg, func(b []byte) []byte { b[pos+h.Size()-5] ^= 0x40; return b })
			return []string{filepath.Base(seg), fmt.Sprintf("position %d: offset %d", pos, h.BaseOffset), "crc mismatch"}
		}},
		{"flipped byte in a base offset", func(t *testing.T, part string) []string {
			seg := inspectSegments(t, part)[0]
			pos, h := inspectBatchAt(t, seg, 1)
			inspectMutate(t, seg, func(b []byte) []byte { b[pos+6] ^= 0x01; return b })
			return []string{filepath.Base(seg), fmt.Sprintf("position %d", pos), fmt.Sprintf("want %d", h.BaseOffset)}
		}},
		{"records that do not decode under a valid CRC", func(t *testing.T, part string) []string {
			seg := inspectSegments(t, part)[0]
			pos, h := inspectBatchAt(t, seg, 1) // gzip
			inspectMutate(t, seg, func(b []byte) []byte {
				batch := b[pos : pos+h.Size()]
				for i := recordbatch.HeaderSize + 12; i < len(batch)-8; i++ {
					batch[i] = 0x55
				}
				recordbatch.SetCRC(batch)
				return b
			})
			return []string{filepath.Base(seg), fmt.Sprintf("position %d: offset %d", pos, h.BaseOffset), "records do not decode"}
		}},
		{"truncated index (torn entry)", func(t *testing.T, part string) []string {
			idx := strings.TrimSuffix(inspectSegments(t, part)[0], ".log") + ".index"
			inspectMutate(t, idx, func(b []byte) []byte { return b[:len(b)-3] })
			return []string{filepath.Base(idx), "truncated"}
		}},
		{"truncated index (whole entries)", func(t *testing.T, part string) []string {
			idx := strings.TrimSuffix(inspectSegments(t, part)[0], ".log") + ".index"
			inspectMutate(t, idx, func(b []byte) []byte { return b[:0] })
			return []string{filepath.Base(idx), "entries missing"}
		}},
		{"index entry pointing at the wrong batch", func(t *testing.T, part string) []string {
			idx := strings.TrimSuffix(inspectSegments(t, part)[0], ".log") + ".index"
			inspectMutate(t, idx, func(b []byte) []byte {
				binary.BigEndian.PutUint32(b[0:], binary.BigEndian.Uint32(b[0:])+1) // relative offset
				return b
			})
			return []string{filepath.Base(idx), "position 0", "names offset"}
		}},
		{"time index entry with the wrong timestamp", func(t *testing.T, part string) []string {
			idx := strings.TrimSuffix(inspectSegments(t, part)[0], ".log") + ".timeindex"
			inspectMutate(t, idx, func(b []byte) []byte { b[7]++; return b })
			return []string{filepath.Base(idx), "timestamp"}
		}},
		{"missing index", func(t *testing.T, part string) []string {
			idx := strings.TrimSuffix(inspectSegments(t, part)[0], ".log") + ".index"
			if err := os.Remove(idx); err != nil {
				t.Fatal(err)
			}
			return []string{filepath.Base(idx), "missing"}
		}},
		{"torn tail", func(t *testing.T, part string) []string {
			segs := inspectSegments(t, part)
			seg := segs[len(segs)-1]
			one := recordbatch.Build(3, 100, inspectBaseTs)
			var end int
			inspectMutate(t, seg, func(b []byte) []byte { end = len(b); return append(b, one[:len(one)/2]...) })
			return []string{filepath.Base(seg), fmt.Sprintf("position %d", end), "torn tail"}
		}},
		{"missing segment", func(t *testing.T, part string) []string {
			segs := inspectSegments(t, part)
			seg := segs[1]
			for _, suf := range []string{".log", ".index", ".timeindex"} {
				os.Remove(strings.TrimSuffix(seg, ".log") + suf)
			}
			from, _, _ := segment.ParseFileName(filepath.Base(seg))
			to, _, _ := segment.ParseFileName(filepath.Base(segs[2]))
			return []string{fmt.Sprintf("offsets [%d, %d) (%d) are lost", from, to, to-from), "no segment holds these offsets"}
		}},
		{"damaged middle segment", func(t *testing.T, part string) []string {
			segs := inspectSegments(t, part)
			pos, h := inspectBatchAt(t, segs[1], 1)
			inspectMutate(t, segs[1], func(b []byte) []byte { b[pos+h.Size()-5] ^= 0x40; return b })
			// Only that batch: the next open keeps the ones after it.
			return []string{filepath.Base(segs[1]), fmt.Sprintf("offsets [%d, %d) (%d) are lost", h.BaseOffset, h.NextOffset(), h.NextOffset()-h.BaseOffset), "is damaged from byte"}
		}},
		{"unreadable recovery checkpoint", func(t *testing.T, part string) []string {
			ck := filepath.Join(part, tlog.CheckpointFile)
			inspectMutate(t, ck, func(b []byte) []byte { b[15] ^= 1; return b })
			return []string{tlog.CheckpointFile, "crc mismatch"}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := inspectDataDir(t)
			part := filepath.Join(dir, "events-0")
			want := c.apply(t, part)
			for _, target := range []string{dir, part} {
				r := inspectFails(t, 1, []string{target, "--verify"}, "problem")
				if !strings.Contains(r.stderr, want[0]) {
					t.Errorf("inspect --verify %s: error %q does not name %s", target, r.stderr, want[0])
				}
				_, problems, _ := strings.Cut(r.stdout, "\nproblems:\n")
				for _, w := range want {
					if !strings.Contains(problems, w) {
						t.Errorf("inspect --verify %s: problems do not contain %q:\n%s", target, w, problems)
					}
				}
				if strings.Contains(r.stdout, "no damage found") {
					t.Errorf("inspect --verify %s reports no damage:\n%s", target, r.stdout)
				}
			}
		})
	}
}

// TestInspectVerifyReportsKnownGap: once a start has left a damaged
// segment's range as a reported gap, verify names the range but finds no
// damage.
func TestInspectVerifyReportsKnownGap(t *testing.T) {
	dir := inspectDataDir(t)
	part := filepath.Join(dir, "events-0")
	segs := inspectSegments(t, part)
	for _, suf := range []string{".log", ".index", ".timeindex"} {
		os.Remove(strings.TrimSuffix(segs[1], ".log") + suf)
	}
	from, _, _ := segment.ParseFileName(filepath.Base(segs[1]))
	to, _, _ := segment.ParseFileName(filepath.Base(segs[2]))
	m, err := tlog.OpenManager(dir, tlog.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.RecoveryLostOffsets(); got != to-from {
		t.Errorf("RecoveryLostOffsets = %d, want %d", got, to-from)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	r := inspectMust(t, dir, "--verify")
	want := fmt.Sprintf("events-0: offsets [%d, %d) (%d) were lost to damage and reported by an earlier start", from, to, to-from)
	if !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "no damage found") {
		t.Fatalf("verify after the repair does not say %q and no damage:\n%s", want, r.stdout)
	}
	r = inspectMust(t, part, "--verify", "--output", "json")
	if !strings.Contains(r.stdout, fmt.Sprintf(`"known_lost_offsets": [
        {
          "from": %d,
          "to": %d
        }`, from, to)) {
		t.Fatalf("json verify does not list the gap:\n%s", r.stdout)
	}
}

func TestInspectErrors(t *testing.T) {
	dir := inspectDataDir(t)
	inspectFails(t, 1, []string{filepath.Join(dir, "nope")}, "no such file")
	inspectFails(t, 1, []string{filepath.Join(dir, "meta")}, "not a data dir")
	inspectFails(t, 1, []string{filepath.Join(dir, "events-0", tlog.CheckpointFile)}, "not a segment file")
	inspectFails(t, 2, []string{}, "one path")
	inspectFails(t, 2, []string{dir, "--output", "yaml"}, "--output")
	inspectFails(t, 2, []string{dir, "--frobnicate"}, "frobnicate")
	// Without --verify a damaged log is listed, and the damage shown, but
	// the listing itself succeeded.
	seg := inspectSegments(t, filepath.Join(dir, "events-0"))[0]
	inspectMutate(t, seg, func(b []byte) []byte { b[len(b)-2] ^= 1; return b })
	r := inspectMust(t, seg)
	if !strings.Contains(r.stdout, "DAMAGED") || !strings.Contains(r.stdout, "crc mismatch") {
		t.Errorf("listing of a damaged segment:\n%s", r.stdout)
	}

	r = inspectMust(t, "--help")
	if !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "tributary inspect ./data --verify") {
		t.Errorf("--help has no example:\n%s", r.stdout)
	}
}

// TestInspectVerifyOneBatch verifies a partition of one batch, shorter
// than an index interval: no index entries at all.
func TestInspectVerifyOneBatch(t *testing.T) {
	dir := inspectDataDir(t)
	r := inspectMust(t, filepath.Join(dir, "events-1"), "--verify")
	if !strings.Contains(r.stdout, "1 segment(s), 1 batches, 1 records") {
		t.Errorf("verify events-1:\n%s", r.stdout)
	}
}

// TestInspectVerifyKilledMidRoll: a data dir as kill -9 leaves it in the
// middle of a roll (the old segment not yet sealed) is not damaged: the
// unsealed segment is printed as warnings and the exit status is 0.
func TestInspectVerifyKilledMidRoll(t *testing.T) {
	dir, crashed := filepath.Join(t.TempDir(), "data"), filepath.Join(t.TempDir(), "data")
	armed, copied := false, false
	var copyErr error
	defaults := tlog.DefaultConfig()
	defaults.Logger = slog.New(slog.DiscardHandler)
	// The roll calls WrapFile when it opens the new segment's .log,
	// before it seals the old segment: copy the data dir then.
	defaults.WrapFile = func(_ string, f *os.File) segment.File {
		if armed && !copied {
			copied, copyErr = true, os.CopyFS(crashed, os.DirFS(dir))
		}
		return f
	}
	m, err := tlog.OpenManager(dir, tlog.Options{Defaults: &defaults, Logger: defaults.Logger,
		CheckpointInterval: time.Hour, FlushSchedulerInterval: time.Hour, RetentionCheckInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	topic, err := m.CreateTopic("events", 1, map[string]string{"segment.bytes": "2048", "index.interval.bytes": "256"})
	if err != nil {
		t.Fatal(err)
	}
	armed = true
	for i := 0; !copied; i++ {
		b, err := recordbatch.Encode(nil, recordbatch.BatchOptions{}, inspectRecords(i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := topic.Partitions[0].Append(b); err != nil {
			t.Fatalf("append batch %d: %v", i, err)
		}
	}
	if copyErr != nil {
		t.Fatal(copyErr)
	}

	// At least one untrimmed index tail (an index grows ahead of its
	// entries, but one may end exactly at them); the closing time index
	// entry is missing too unless the last batch already had its own entry.
	r := inspectMust(t, crashed, "--verify")
	if !strings.Contains(r.stdout, "warnings:") || strings.Count(r.stdout, "segment left unsealed") < 1 ||
		strings.Contains(r.stdout, "problems:") || !strings.Contains(r.stdout, "no damage found") {
		t.Errorf("verify of a data dir killed mid-roll:\n%s", r.stdout)
	}
	r = inspectMust(t, crashed, "--verify", "--output", "json")
	if !strings.Contains(r.stdout, `"damaged": false`) || strings.Count(r.stdout, "segment left unsealed") < 1 {
		t.Errorf("json verify of a data dir killed mid-roll:\n%s", r.stdout)
	}
}

// TestInspectTableStaysAlignedAcrossChunks: a segment listing longer than
// tableFlushRows is printed in chunks; every chunk must line up with the
// one header, however wide its values are.
func TestInspectTableStaysAlignedAcrossChunks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	m, err := tlog.OpenManager(dir, tlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	topic, err := m.CreateTopic("wide", 1, map[string]string{"retention.ms": "-1"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range tableFlushRows + 3 {
		val := []byte("v")
		if i >= tableFlushRows {
			val = []byte(strings.Repeat("x", 20000)) // a SIZE of 5 digits
		}
		rec := []recordbatch.Record{{Timestamp: inspectBaseTs + int64(i), Value: val}}
		bt, err := recordbatch.Encode(nil, recordbatch.BatchOptions{}, rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := topic.Partitions[0].Append(bt); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	r := inspectMust(t, filepath.Join(dir, "wide-0"))
	lines := strings.Split(r.stdout, "\n")
	var header string
	var rows []string
	for i, l := range lines {
		if strings.HasPrefix(l, "POSITION") {
			header = l
			for _, row := range lines[i+1:] {
				if row == "" {
					break
				}
				rows = append(rows, row)
			}
			break
		}
	}
	if len(rows) != tableFlushRows+3 {
		t.Fatalf("%d batch rows, want %d", len(rows), tableFlushRows+3)
	}
	// Where each column starts in the header: a non-space after a space.
	var starts []int
	for i := 1; i < len(header); i++ {
		if header[i] != ' ' && header[i-1] == ' ' {
			starts = append(starts, i)
		}
	}
	for n, row := range rows {
		for _, s := range starts {
			if s >= len(row) || row[s] == ' ' || row[s-1] != ' ' {
				t.Fatalf("row %d does not line up with the header:\n%s\n%s", n, header, row)
			}
		}
	}
}

// TestInspectVerifyHintsAtLargerIndexInterval: a segment written under a larger
// index.interval.bytes than the one verified against (the topic's was
// lowered with topic alter) has no entries to show its spacing; the
// problem must say that it may be that, not only a cut index.
func TestInspectVerifyHintsAtLargerIndexInterval(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	m, err := tlog.OpenManager(dir, tlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	topic, err := m.CreateTopic("ix", 1, map[string]string{"retention.ms": "-1"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		rec := []recordbatch.Record{{Timestamp: inspectBaseTs + int64(i), Value: []byte(strings.Repeat("v", 60))}}
		bt, err := recordbatch.Encode(nil, recordbatch.BatchOptions{}, rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := topic.Partitions[0].Append(bt); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(dir, "ix-0")
	inspectMust(t, part, "--verify")
	r := inspectFails(t, 1, []string{part, "--verify", "--index-interval-bytes", "128"}, "entries missing")
	if !strings.Contains(r.stdout, "larger index.interval.bytes") {
		t.Errorf("problem does not mention a larger index.interval.bytes:\n%s", r.stdout)
	}
}
