package log_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/segment"
)

// The log cleaner's tests: every result is compared with a model of what
// compaction must keep, the latest record of each key.

var cleanerCodecs = []recordbatch.Codec{recordbatch.CodecNone, recordbatch.CodecGzip,
	recordbatch.CodecSnappy, recordbatch.CodecLZ4, recordbatch.CodecZstd}

// compactConfig is a compacted log with small segments and a fake clock.
func compactConfig(segmentBytes int64, clock *fakeClock) log.Config {
	c := quietConfig()
	c.CleanupPolicy = log.CleanupPolicyCompact
	c.SegmentBytes = segmentBytes
	c.Now = clock.Now
	return c
}

// rec is one record as the tests write and read it; a nil key or value is
// null.
type rec struct {
	offset     int64
	ts         int64
	key, value []byte
}

func (r rec) String() string {
	return fmt.Sprintf("%d:%q=%q", r.offset, r.key, r.value)
}

// producerState numbers the batches of the one idempotent producer of a
// workload.
type producerState struct{ seq int32 }

// appendKeyed appends one batch of recs (offsets are assigned by the log)
// with codec c, idempotent when p is not nil, and returns the records with
// their offsets.
func appendKeyed(t testing.TB, l *log.Log, c recordbatch.Codec, p *producerState, recs []rec) []rec {
	t.Helper()
	in := make([]recordbatch.Record, len(recs))
	for i, r := range recs {
		in[i] = recordbatch.Record{Offset: int64(i), Timestamp: r.ts, Key: r.key, Value: r.value}
	}
	o := recordbatch.BatchOptions{Codec: c}
	if p != nil {
		o.Idempotent, o.ProducerID, o.ProducerEpoch, o.BaseSequence = true, 1, 0, p.seq
	}
	b, err := recordbatch.Encode(nil, o, in)
	if err != nil {
		t.Fatal(err)
	}
	base, err := l.Append(b)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	if p != nil {
		p.seq += int32(len(recs))
	}
	out := make([]rec, len(recs))
	for i, r := range recs {
		r.offset = base + int64(i)
		out[i] = r
	}
	return out
}

// readRecords reads every record of the log, from the log start, and
// checks that every offset of [start, end) reads as Kafka answers: the
// batch holding it, or the first batch after it when it is in a gap.
func readRecords(t testing.TB, l *log.Log) []rec {
	t.Helper()
	batches := readBatches(t, l)
	var out []rec
	for _, b := range batches {
		err := recordbatch.Records(b.data, 1<<26, func(r recordbatch.Record) error {
			out = append(out, rec{offset: r.Offset, ts: r.Timestamp, key: r.Key, value: r.Value})
			return nil
		})
		if err != nil {
			t.Fatalf("records of batch %d: %v", b.base, err)
		}
	}
	// Every offset, gaps included.
	next := 0
	for off := l.StartOffset(); off < l.NextOffset(); off++ {
		for next < len(batches) && batches[next].next() <= off {
			next++
		}
		got, err := l.Read(off, 1)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		switch {
		case next == len(batches):
			if len(got.Data) != 0 {
				t.Fatalf("Read(%d) past the last batch returned the batch at %d", off, got.BaseOffset)
			}
		case got.BaseOffset != batches[next].base || !bytes.Equal(got.Data, batches[next].data):
			t.Fatalf("Read(%d) returned the batch at %d (%d bytes), want the one at %d", off, got.BaseOffset, len(got.Data), batches[next].base)
		}
		got.Release()
	}
	return out
}

// readBatches is readAll for a compacted log: batches from the log start
// in increasing offset order, each validated, with gaps allowed between
// them (and before the first).
func readBatches(t testing.TB, l *log.Log) []storedBatch {
	t.Helper()
	var out []storedBatch
	off, end := l.StartOffset(), l.NextOffset()
	for hops := 0; off < end; hops++ {
		if hops > 1<<20 {
			t.Fatal("readBatches does not finish")
		}
		b, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatalf("read at %d (log [%d, %d)): %v", off, l.StartOffset(), end, err)
		}
		if len(b.Data) == 0 {
			b.Release()
			break // a gap up to the log end
		}
		for p := 0; p < len(b.Data); {
			h, err := recordbatch.Validate(b.Data[p:])
			if err != nil || h.LastOffset() < off || (p == 0) != (h.BaseOffset == b.BaseOffset) && p == 0 {
				b.Release()
				t.Fatalf("read at %d: batch [%d, %d] %d bytes into the result: %v", off, h.BaseOffset, h.LastOffset(), p, err)
			}
			if p > 0 && h.BaseOffset < off {
				b.Release()
				t.Fatalf("read at %d: batch at %d overlaps the one before", off, h.BaseOffset)
			}
			out = append(out, storedBatch{base: h.BaseOffset, data: bytes.Clone(b.Data[p : p+h.Size()])})
			off = h.NextOffset()
			p += h.Size()
		}
		b.Release()
	}
	return out
}

// compactModel is what the log must hold after a full compaction.
type compactModel struct {
	latest   map[string]rec // by key
	all      map[int64]rec  // every record appended, by offset
	producer producerState  // the workload's idempotent producer
}

func newCompactModel() *compactModel {
	return &compactModel{latest: map[string]rec{}, all: map[int64]rec{}}
}

func (m *compactModel) add(recs []rec) {
	for _, r := range recs {
		m.all[r.offset] = r
		if r.key != nil {
			m.latest[string(r.key)] = r
		}
	}
}

// want returns the records a full compaction keeps, by offset: each key's
// latest, but tombstones older than horizon.
func (m *compactModel) want(horizon int64) []rec {
	var out []rec
	for _, r := range m.latest {
		if r.value == nil && r.ts < horizon {
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].offset < out[j].offset })
	return out
}

func checkRecords(t testing.TB, got, want []rec) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("log holds %d records, want %d\ngot  %v\nwant %v", len(got), len(want), shortList(got), shortList(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.offset != w.offset || !sameBytes(g.key, w.key) || !sameBytes(g.value, w.value) {
			t.Fatalf("record %d is %v, want %v", i, g, w)
		}
	}
}

func shortList(rs []rec) string {
	var b strings.Builder
	for i, r := range rs {
		if i == 20 {
			b.WriteString(" ...")
			break
		}
		fmt.Fprintf(&b, " %v", r)
	}
	return b.String()
}

func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// randomWorkload appends n batches of 1-5 records over keys keys, with
// every codec, some tombstones and (when idempotent) one idempotent
// producer, advancing the clock 1 ms per batch.
func randomWorkload(t testing.TB, l *log.Log, m *compactModel, rng *rand.Rand, clock *fakeClock, n, keys int, idempotent bool) {
	t.Helper()
	var p *producerState
	if idempotent {
		p = &m.producer
	}
	for range n {
		now := clock.Now().UnixMilli()
		recs := make([]rec, 1+rng.IntN(5))
		for i := range recs {
			recs[i] = rec{ts: now, key: fmt.Appendf(nil, "key-%d", rng.IntN(keys))}
			if rng.IntN(10) > 0 {
				recs[i].value = fmt.Appendf(nil, "value-%d-%s", rng.Uint64(), strings.Repeat("x", rng.IntN(40)))
			}
		}
		m.add(appendKeyed(t, l, cleanerCodecs[rng.IntN(len(cleanerCodecs))], p, recs))
		clock.Set(now + 1)
	}
}

// TestCompactMatchesModel: after a full compaction (everything sealed)
// the log holds exactly each key's latest record, at its offset, with the
// log end unchanged, readable at every offset; and so after a reopen.
func TestCompactMatchesModel(t *testing.T) {
	tests := []struct {
		name       string
		seed       uint64
		batches    int
		keys       int
		segBytes   int64
		idempotent bool
		passes     int // cleaning passes during the workload
	}{
		{"few keys", 1, 300, 5, 2048, false, 0},
		{"many keys", 2, 300, 200, 4096, false, 3},
		{"idempotent", 3, 300, 20, 2048, true, 2},
		{"one key", 4, 100, 1, 1024, false, 5},
		{"big segments", 5, 200, 30, 1 << 20, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(tt.seed, 99))
			clock := newFakeClock(tsBase)
			cfg := compactConfig(tt.segBytes, clock)
			l := openLog(t, t.TempDir(), cfg)
			m := newCompactModel()
			for i := 0; i <= tt.passes; i++ {
				randomWorkload(t, l, m, rng, clock, tt.batches/(tt.passes+1), tt.keys, tt.idempotent)
				if _, err := l.Compact(); err != nil {
					t.Fatal(err)
				}
			}
			end := l.NextOffset()
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
			sizeBefore := l.Size()
			st, err := l.Compact()
			if err != nil {
				t.Fatal(err)
			}
			if l.NextOffset() != end || l.StartOffset() != 0 {
				t.Fatalf("log is [%d, %d) after compaction, want [0, %d)", l.StartOffset(), l.NextOffset(), end)
			}
			want := m.want(0) // tombstones are young: all kept
			checkRecords(t, readRecords(t, l), want)
			if st.CleanedOffset != end || l.Size() > sizeBefore || st.BytesAfter > st.BytesBefore {
				t.Fatalf("stats %+v, size %d → %d", st, sizeBefore, l.Size())
			}
			// Compacting again changes nothing.
			if st, err := l.Compact(); err != nil || st.SegmentsCleaned != 0 && st.RecordsRemoved != 0 {
				t.Fatalf("second pass: %+v %v", st, err)
			}
			// Appends go on at the same end, and everything survives reopening.
			tail := appendKeyed(t, l, recordbatch.CodecNone, nil, []rec{{ts: clock.Now().UnixMilli(), key: []byte("key-0"), value: []byte("after")}})
			if tail[0].offset != end {
				t.Fatalf("append after compaction at %d, want %d", tail[0].offset, end)
			}
			m.add(tail)
			reopenAll(t, l, cfg, func(t *testing.T, l *log.Log) {
				if l.NextOffset() != end+1 {
					t.Fatalf("reopened log ends at %d, want %d", l.NextOffset(), end+1)
				}
				got := readRecords(t, l)
				checkRecords(t, got[:len(got)-1], want)
			})
		})
	}
}

// TestCompactTombstones: a tombstone survives cleaning until its batch is
// delete.retention.ms old, then goes; the values it deleted go at once.
func TestCompactTombstones(t *testing.T) {
	const retention = 1000
	tests := []struct {
		name      string
		advance   int64 // clock after the appends, past the tombstone's time
		tombstone bool  // whether the tombstone is still there
	}{
		{"young", retention - 1, true},
		{"at the horizon", retention, true},
		{"expired", retention + 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock(tsBase)
			cfg := compactConfig(1<<20, clock)
			cfg.DeleteRetentionMs = retention
			l := openLog(t, t.TempDir(), cfg)
			appendKeyed(t, l, recordbatch.CodecNone, nil, []rec{{ts: tsBase, key: []byte("a"), value: []byte("1")}, {ts: tsBase, key: []byte("b"), value: []byte("1")}})
			tomb := appendKeyed(t, l, recordbatch.CodecLZ4, nil, []rec{{ts: tsBase, key: []byte("a")}})
			keep := appendKeyed(t, l, recordbatch.CodecNone, nil, []rec{{ts: tsBase + 5000, key: []byte("c"), value: []byte("2")}})
			l.Roll()
			clock.Set(tsBase + tt.advance)
			st, err := l.Compact()
			if err != nil {
				t.Fatal(err)
			}
			want := []rec{{offset: 1, key: []byte("b"), value: []byte("1")}}
			if tt.tombstone {
				want = append(want, tomb[0])
			}
			want = append(want, keep[0])
			checkRecords(t, readRecords(t, l), want)
			if wantTomb := int64(boolInt(!tt.tombstone)); st.TombstonesRemoved != wantTomb {
				t.Fatalf("TombstonesRemoved %d, want %d", st.TombstonesRemoved, wantTomb)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestCompactMinCompactionLag: sealed segments younger than
// min.compaction.lag.ms are left as they are, older ones cleaned.
func TestCompactMinCompactionLag(t *testing.T) {
	clock := newFakeClock(tsBase)
	cfg := compactConfig(1<<20, clock)
	cfg.MinCompactionLagMs = 10_000
	l := openLog(t, t.TempDir(), cfg)
	old := appendKeyed(t, l, recordbatch.CodecNone, nil, []rec{{ts: tsBase, key: []byte("k"), value: []byte("old")}, {ts: tsBase, key: []byte("k"), value: []byte("older")}})
	l.Roll()
	young := appendKeyed(t, l, recordbatch.CodecNone, nil, []rec{{ts: tsBase + 20_000, key: []byte("k"), value: []byte("young")}, {ts: tsBase + 20_000, key: []byte("k"), value: []byte("new")}})
	l.Roll()
	clock.Set(tsBase + 25_000) // the first segment is 25 s old, the second 5 s
	st, err := l.Compact()
	if err != nil {
		t.Fatal(err)
	}
	if st.CleanedOffset != young[0].offset {
		t.Fatalf("cleaned up to %d, want %d", st.CleanedOffset, young[0].offset)
	}
	_ = old
	checkRecords(t, readRecords(t, l), young) // the old segment is emptied, the young one untouched
	clock.Set(tsBase + 40_000)
	if _, err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	checkRecords(t, readRecords(t, l), young[1:])
}

// TestCompactNullKeys: a compacted log refuses records without a key
// (Kafka's INVALID_RECORD), whatever the codec, and the cleaner drops the
// ones written before the topic became compacted.
func TestCompactNullKeys(t *testing.T) {
	clock := newFakeClock(tsBase)
	cfg := compactConfig(1<<20, clock)
	cfg.CleanupPolicy = log.CleanupPolicyDelete
	l := openLog(t, t.TempDir(), cfg)
	keyless := appendKeyed(t, l, recordbatch.CodecNone, nil, []rec{{ts: tsBase, value: []byte("no key")}, {ts: tsBase, key: []byte("k"), value: []byte("v")}})
	cfg.CleanupPolicy = log.CleanupPolicyCompact + "," + log.CleanupPolicyDelete
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	for _, c := range cleanerCodecs {
		b, _ := recordbatch.Encode(nil, recordbatch.BatchOptions{Codec: c}, []recordbatch.Record{{Key: []byte("x"), Value: []byte("1")}, {Offset: 1, Value: []byte("2")}})
		if _, err := l.Append(b); !errors.Is(err, log.ErrMissingKey) {
			t.Fatalf("%v: append of a keyless record to a compacted log: %v, want ErrMissingKey", c, err)
		}
	}
	if l.NextOffset() != 2 {
		t.Fatalf("refused appends moved the log end to %d", l.NextOffset())
	}
	l.Roll()
	appendKeyed(t, l, recordbatch.CodecNone, nil, []rec{{ts: tsBase, key: []byte("z"), value: []byte("v")}}) // keyed: accepted
	st, err := l.Compact()
	if err != nil || st.RecordsRemoved != 1 {
		t.Fatalf("compact: %+v %v", st, err)
	}
	got := readRecords(t, l)
	checkRecords(t, got[:1], keyless[1:])
}

// TestCompactRetentionPolicies: with compact alone, retention deletes
// nothing; with compact,delete it does.
func TestCompactRetentionPolicies(t *testing.T) {
	for _, tt := range []struct {
		policy  string
		deleted int
	}{
		{"compact", 0},
		{"compact,delete", 1},
		{"delete,compact", 1},
	} {
		t.Run(tt.policy, func(t *testing.T) {
			clock := newFakeClock(tsBase)
			cfg := compactConfig(1<<20, clock)
			cfg.CleanupPolicy = tt.policy
			cfg.RetentionMs = 1000
			l := openLog(t, t.TempDir(), cfg)
			appendKeyed(t, l, recordbatch.CodecNone, nil, []rec{{ts: tsBase, key: []byte("k"), value: []byte("v")}})
			l.Roll()
			appendKeyed(t, l, recordbatch.CodecNone, nil, []rec{{ts: tsBase, key: []byte("j"), value: []byte("v")}})
			clock.Set(tsBase + 5000)
			n, err := l.ApplyRetention()
			if err != nil || n != tt.deleted {
				t.Fatalf("ApplyRetention = %d, %v; want %d", n, err, tt.deleted)
			}
		})
	}
}

// TestCompactGaps: reads, timestamp lookups, DeleteRecords and retention
// across the gaps a compaction leaves, before and after a reopen.
func TestCompactGaps(t *testing.T) {
	clock := newFakeClock(tsBase)
	cfg := compactConfig(1<<20, clock)
	cfg.CleanupPolicy = "compact,delete"
	l := openLog(t, t.TempDir(), cfg)
	// Segment 0: offsets 0-9, only 3 and 9 survive. Segment 10: 10-19, only
	// 12 survives. Active: 20.
	var all []rec
	for seg := range 2 {
		for i := range 10 {
			key := fmt.Sprintf("gone-%d", i%2)
			switch seg*10 + i {
			case 3, 9, 12:
				key = fmt.Sprintf("kept-%d", seg*10+i)
			}
			all = append(all, appendKeyed(t, l, recordbatch.CodecNone, nil, []rec{{ts: tsBase + int64(seg*10+i)*100, key: []byte(key), value: []byte("v")}})...)
		}
		l.Roll()
	}
	last := appendKeyed(t, l, recordbatch.CodecNone, nil, []rec{{ts: tsBase + 5000, key: []byte("gone-0"), value: []byte("w")}, {ts: tsBase + 5000, key: []byte("gone-1"), value: []byte("w")}})
	// Merging would hide the gap between the segments: one segment each.
	cfg.SegmentBytes = 200
	l.SetConfig(cfg)
	if _, err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, l *log.Log) {
		want := []rec{all[3], all[9], all[12], last[0], last[1]}
		checkRecords(t, readRecords(t, l), want)
		for _, c := range []struct{ ts, off int64 }{
			{tsBase, 3}, {tsBase + 300, 3}, {tsBase + 301, 9}, {tsBase + 1000, 12}, {tsBase + 1201, 20}, {tsBase + 9999, -1},
		} {
			if off, _, err := l.OffsetForTimestamp(c.ts); err != nil || off != c.off {
				t.Errorf("OffsetForTimestamp(%d) = %d, %v; want %d", c.ts, off, err, c.off)
			}
		}
	}
	check(t, l)
	if l.NumSegments() != 3 {
		t.Fatalf("%d segments, want 3", l.NumSegments())
	}
	// DeleteRecords inside the gap at the end of the first segment.
	if _, err := l.DeleteRecordsBefore(11); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != 11 || l.NumSegments() != 2 {
		t.Fatalf("after DeleteRecordsBefore(11): start %d, %d segments", l.StartOffset(), l.NumSegments())
	}
	checkRecords(t, readRecords(t, l), []rec{all[12], last[0], last[1]})
	reopenAll(t, l, cfg, func(t *testing.T, l *log.Log) {
		// Without the recovery checkpoint the start is the first segment's.
		if l.StartOffset() != 11 && !(l.StartOffset() == 10 && !l.Recovery().Clean) || l.NextOffset() != 22 {
			t.Fatalf("reopened [%d, %d)", l.StartOffset(), l.NextOffset())
		}
		checkRecords(t, readRecords(t, l), []rec{all[12], last[0], last[1]})
	})
}

// TestCompactEmptiedSealedTail: when everything sealed is cleaned away,
// the log end (the active segment's base) survives a crash and a reopen.
func TestCompactEmptiedSealedTail(t *testing.T) {
	clock := newFakeClock(tsBase)
	cfg := compactConfig(1<<20, clock)
	cfg.DeleteRetentionMs = 0
	l := openLog(t, t.TempDir(), cfg)
	appendKeyed(t, l, recordbatch.CodecNone, nil, []rec{{ts: tsBase, key: []byte("k"), value: []byte("v")}, {ts: tsBase, key: []byte("k")}})
	l.Roll()
	clock.Set(tsBase + 10)
	if _, err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	if l.NextOffset() != 2 || len(readRecords(t, l)) != 0 {
		t.Fatalf("log end %d", l.NextOffset())
	}
	reopenAll(t, l, cfg, func(t *testing.T, l *log.Log) {
		if l.NextOffset() != 2 {
			t.Fatalf("reopened log ends at %d, want 2: offsets would be reused", l.NextOffset())
		}
		if got := appendKeyed(t, l, recordbatch.CodecNone, nil, []rec{{key: []byte("x"), value: []byte("y")}}); got[0].offset != 2 {
			t.Fatalf("append at %d", got[0].offset)
		}
	})
}

// TestCompactCrashAtEachStep stops a swap at each of its steps, as a
// crash would, and opens a copy of the directory taken then: the log must
// hold either the old segments or the cleaned one (both keep every key's
// latest record), with no offset twice and the same log end.
func TestCompactCrashAtEachStep(t *testing.T) {
	steps := []string{"commit", "delete old", "rename", "open"}
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			clock := newFakeClock(tsBase)
			cfg := compactConfig(1024, clock)
			l, err := log.Open(t.TempDir(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			m := newCompactModel()
			randomWorkload(t, l, m, rand.New(rand.NewPCG(7, 7)), clock, 120, 4, true)
			l.Roll()
			end := l.NextOffset()
			before := readRecords(t, l)
			var crashed string
			log.SetSwapHook(l, func(s string) error {
				if s == step && crashed == "" {
					crashed = crashCopy(t, l.Dir())
					return errors.New("crash")
				}
				return nil
			})
			if _, err := l.Compact(); err == nil || crashed == "" {
				t.Fatalf("compact did not stop at %q: %v", step, err)
			}
			r, err := log.Open(crashed, cfg)
			if err != nil {
				t.Fatalf("open after a crash at %q: %v", step, err)
			}
			defer r.Close()
			if r.NextOffset() != end {
				t.Fatalf("log end %d after the crash, want %d", r.NextOffset(), end)
			}
			got := readRecords(t, r)
			checkSubset(t, got, before, m.want(0))
			for _, name := range dirNames(t, crashed) {
				if strings.HasSuffix(name, segment.CleanedSuffix) || strings.HasSuffix(name, segment.SwapSuffix) {
					t.Fatalf("%s left after recovery", name)
				}
			}
			// A full compaction after recovery reaches the model. (The
			// recovery dropped the empty active segment: roll again.)
			r.Roll()
			if _, err := r.Compact(); err != nil {
				t.Fatal(err)
			}
			checkRecords(t, readRecords(t, r), m.want(0))
		})
	}
}

// checkSubset asserts that got holds every record of want and otherwise
// only records of before, each at its offset, in offset order.
func checkSubset(t testing.TB, got, before, want []rec) {
	t.Helper()
	orig := map[int64]rec{}
	for _, r := range before {
		orig[r.offset] = r
	}
	seen := map[int64]bool{}
	prev := int64(-1)
	for _, r := range got {
		o, ok := orig[r.offset]
		if !ok || r.offset <= prev || !sameBytes(o.key, r.key) || !sameBytes(o.value, r.value) {
			t.Fatalf("record %v is not the original at its offset, or out of order", r)
		}
		prev = r.offset
		seen[r.offset] = true
	}
	for _, w := range want {
		if !seen[w.offset] {
			t.Fatalf("latest record %v lost", w)
		}
	}
}

func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestCompactRecoversLeftovers: files of swaps a crash interrupted are
// cleaned up or completed at Open, whatever state they were left in.
func TestCompactRecoversLeftovers(t *testing.T) {
	clock := newFakeClock(tsBase)
	cfg := compactConfig(1024, clock)
	src := t.TempDir()
	l := openLog(t, src, cfg)
	m := newCompactModel()
	randomWorkload(t, l, m, rand.New(rand.NewPCG(3, 3)), clock, 80, 3, false)
	l.Roll()
	end := l.NextOffset()
	before := readRecords(t, l)
	l.Close()
	tests := []struct {
		name  string
		files map[string][]byte // extra files by name
	}{
		{"stray cleaned", map[string][]byte{segment.FileName(0, ".log.cleaned"): []byte("garbage"), segment.FileName(0, ".index.cleaned"): nil}},
		{"index swap without its log", map[string][]byte{segment.FileName(0, ".index.swap"): make([]byte, 8)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := crashCopy(t, src)
			for name, data := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := openLog(t, dir, cfg)
			if r.NextOffset() != end {
				t.Fatalf("log end %d, want %d", r.NextOffset(), end)
			}
			checkSubset(t, readRecords(t, r), before, nil)
			for _, name := range dirNames(t, dir) {
				if strings.HasSuffix(name, segment.CleanedSuffix) || strings.HasSuffix(name, segment.SwapSuffix) {
					t.Fatalf("%s left after recovery", name)
				}
			}
		})
	}
}

// TestCompactProducerState: idempotent producers' state survives a
// compaction that removes their batches, with or without the producer
// snapshot: a retry of the last batch is still recognised, and the
// sequence goes on.
func TestCompactProducerState(t *testing.T) {
	for _, dropSnapshot := range []bool{false, true} {
		t.Run(fmt.Sprintf("drop snapshot %v", dropSnapshot), func(t *testing.T) {
			clock := newFakeClock(tsBase)
			cfg := compactConfig(1<<20, clock)
			dir := t.TempDir()
			l := openLog(t, dir, cfg)
			p := &producerState{}
			for i := range 10 {
				appendKeyed(t, l, recordbatch.CodecNone, p, []rec{{ts: tsBase, key: []byte("k"), value: fmt.Appendf(nil, "%d", i)}})
			}
			l.Roll()
			if _, err := l.Compact(); err != nil {
				t.Fatal(err)
			}
			l.Close()
			if dropSnapshot {
				os.Remove(filepath.Join(dir, log.ProducerSnapshotFile))
			}
			r := openLog(t, dir, cfg)
			// The retry of the last batch is a duplicate; the next sequence is accepted.
			retry := &producerState{seq: p.seq - 1}
			b, _ := recordbatch.Encode(nil, recordbatch.BatchOptions{Idempotent: true, ProducerID: 1, BaseSequence: retry.seq},
				[]recordbatch.Record{{Timestamp: tsBase, Key: []byte("k"), Value: []byte("9")}})
			info, err := r.AppendBatches(b)
			if err != nil || !info.Duplicate || info.BaseOffset != 9 {
				t.Fatalf("retry: %+v %v", info, err)
			}
			got := appendKeyed(t, r, recordbatch.CodecNone, p, []rec{{ts: tsBase, key: []byte("k"), value: []byte("10")}})
			if got[0].offset != 10 {
				t.Fatalf("next batch at %d", got[0].offset)
			}
		})
	}
}

// TestCompactManyUpdatesStaySmall: 100,000 updates of 10 keys, cleaned by
// the Manager as they come, leave a log of a few KB in a few segments.
func TestCompactManyUpdatesStaySmall(t *testing.T) {
	updates := 100_000
	if testing.Short() {
		updates = 20_000
	}
	m, err := log.OpenManager(t.TempDir(), log.Options{Logger: quietConfig().Logger, CleanerBackoff: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	topic, err := m.CreateTopic("__consumer_offsets", 1, map[string]string{
		"cleanup.policy": "compact", "segment.bytes": "4096", "segment.index.bytes": "4096",
	})
	if err != nil {
		t.Fatal(err)
	}
	l := topic.Partitions[0]
	model := newCompactModel()
	for i := range updates {
		r := []rec{{ts: tsBase + int64(i), key: fmt.Appendf(nil, "group-%d", i%10), value: fmt.Appendf(nil, "offset=%d", i)}}
		model.add(appendKeyed(t, l, recordbatch.CodecNone, nil, r))
		if i%1000 == 999 {
			m.RunCompaction()
		}
	}
	m.RunCompaction()
	if l.Size() > 16<<10 || l.NumSegments() > 8 {
		t.Fatalf("after %d updates: %d bytes in %d segments", updates, l.Size(), l.NumSegments())
	}
	t.Logf("after %d updates: %d bytes in %d segments", updates, l.Size(), l.NumSegments())
	// Every record left is a latest one, or in the active segment.
	got := readRecords(t, l)
	if len(got) > 200 {
		t.Fatalf("%d records left", len(got))
	}
	l.Roll()
	l.Compact()
	checkRecords(t, readRecords(t, l), model.want(0))
}

// TestCompactConcurrent runs appends, reads from the start and cleaning
// passes at once (run it with -race); the result must match the model.
func TestCompactConcurrent(t *testing.T) {
	clock := newFakeClock(tsBase)
	cfg := compactConfig(2048, clock)
	l := openLog(t, t.TempDir(), cfg)
	model := newCompactModel()
	const appends = 3000
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, 3)
	wg.Add(2)
	go func() { // cleaner
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := l.Compact(); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() { // reader: every batch from the start, in order, valid
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			prev := int64(-1)
			for off := l.StartOffset(); ; {
				b, err := l.Read(off, 4096)
				if err != nil {
					errs <- err
					return
				}
				if len(b.Data) == 0 {
					break
				}
				for p := 0; p < len(b.Data); {
					h, err := recordbatch.Validate(b.Data[p:])
					if err != nil || h.BaseOffset <= prev {
						b.Release()
						errs <- fmt.Errorf("read at %d: batch %d after %d: %v", off, h.BaseOffset, prev, err)
						return
					}
					prev = h.LastOffset()
					off = h.NextOffset()
					p += h.Size()
				}
				b.Release()
			}
		}
	}()
	for i := range appends {
		model.add(appendKeyed(t, l, cleanerCodecs[i%len(cleanerCodecs)], nil,
			[]rec{{ts: tsBase + int64(i), key: fmt.Appendf(nil, "k%d", i%37), value: fmt.Appendf(nil, "v%d", i)}}))
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	l.Roll()
	if _, err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	checkRecords(t, readRecords(t, l), model.want(0))
}

// TestNeedsCompaction: the dirty ratio and max.compaction.lag.ms decide.
func TestNeedsCompaction(t *testing.T) {
	clock := newFakeClock(tsBase)
	cfg := compactConfig(1<<20, clock)
	l := openLog(t, t.TempDir(), cfg)
	if l.NeedsCompaction() {
		t.Fatal("empty log needs compaction")
	}
	put := func(n int) {
		for i := range n {
			appendKeyed(t, l, recordbatch.CodecNone, nil, []rec{{ts: clock.Now().UnixMilli(), key: fmt.Appendf(nil, "k%d", i), value: []byte("0123456789")}})
		}
		l.Roll()
	}
	put(10)
	if !l.NeedsCompaction() {
		t.Fatal("all-dirty log does not need compaction")
	}
	l.Compact()
	if l.NeedsCompaction() {
		t.Fatal("just-cleaned log needs compaction")
	}
	put(3) // 3 dirty of 13: below 0.5
	if l.NeedsCompaction() {
		t.Fatal("dirty ratio 3/13 needs compaction")
	}
	cfg.MaxCompactionLagMs = 1000
	l.SetConfig(cfg)
	clock.Set(tsBase + 2000)
	if !l.NeedsCompaction() {
		t.Fatal("max.compaction.lag.ms passed, no compaction")
	}
	cfg.CleanupPolicy = log.CleanupPolicyDelete
	l.SetConfig(cfg)
	if l.NeedsCompaction() {
		t.Fatal("delete policy needs compaction")
	}
}

// TestCompactKeepsReadersViews: a view taken by Read before a segment is
// replaced keeps its bytes until it is released.
func TestCompactKeepsReadersViews(t *testing.T) {
	clock := newFakeClock(tsBase)
	l := openLog(t, t.TempDir(), compactConfig(1<<20, clock))
	for i := range 20 {
		appendKeyed(t, l, recordbatch.CodecNone, nil, []rec{{ts: tsBase, key: []byte("k"), value: fmt.Appendf(nil, "v%d", i)}})
	}
	l.Roll()
	view, err := l.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	saved := bytes.Clone(view.Data)
	st, err := l.Compact()
	if err != nil || st.SegmentsCleaned != 1 {
		t.Fatalf("compact: %+v %v", st, err)
	}
	if !bytes.Equal(view.Data, saved) {
		t.Fatal("a reader's view changed under it")
	}
	view.Release()
	if got := readRecords(t, l); len(got) != 1 || string(got[0].value) != "v19" {
		t.Fatalf("after compaction: %v", got)
	}
}

// TestNeedsCompactionAfterFailedPass: a pass that fails after advancing the
// cleaner checkpoint (here: its output file cannot be created, as on a full
// disk) leaves the log needing compaction, and the next pass cleans it.
func TestNeedsCompactionAfterFailedPass(t *testing.T) {
	clock := newFakeClock(tsBase)
	cfg := compactConfig(1<<20, clock)
	dir := t.TempDir()
	l := openLog(t, dir, cfg)
	for round := range 3 {
		for i := range 10 {
			appendKeyed(t, l, recordbatch.CodecNone, nil, []rec{{ts: clock.Now().UnixMilli(), key: fmt.Appendf(nil, "k%d", i), value: fmt.Appendf(nil, "v%d", round)}})
		}
		l.Roll()
	}
	// A non-empty directory where the cleaner's output for the first
	// segment goes: the Builder cannot remove or create it.
	blocker := filepath.Join(dir, segment.FileName(0, segment.LogSuffix+segment.CleanedSuffix))
	if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Compact(); err == nil {
		t.Fatal("compaction with its output blocked succeeded")
	}
	if !l.NeedsCompaction() {
		t.Fatal("a failed pass left the log looking clean")
	}
	if err := os.RemoveAll(blocker); err != nil {
		t.Fatal(err)
	}
	st, err := l.Compact()
	if err != nil || st.RecordsRemoved != 20 {
		t.Fatalf("compaction after the fault: %+v %v, want 20 records removed", st, err)
	}
	if l.NeedsCompaction() {
		t.Fatal("a finished pass left the log needing compaction")
	}
}
