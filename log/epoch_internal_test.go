package log

import (
	"slices"
	"testing"

	"github.com/tributary-io/tributary/internal/framedfile"
)

func TestEpochCacheAssign(t *testing.T) {
	e := func(pairs ...int64) []EpochEntry {
		var out []EpochEntry
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, EpochEntry{int32(pairs[i]), pairs[i+1]})
		}
		return out
	}
	tests := []struct {
		name    string
		in      []EpochEntry
		epoch   int32
		start   int64
		want    []EpochEntry
		changed bool
	}{
		{"first entry", nil, 0, 0, e(0, 0), true},
		{"newer epoch appends", e(0, 0), 2, 10, e(0, 0, 2, 10), true},
		{"same epoch is known", e(0, 0, 2, 10), 2, 15, e(0, 0, 2, 10), false},
		{"older epoch is ignored", e(0, 0, 2, 10), 1, 15, e(0, 0, 2, 10), false},
		{"an epoch without data is replaced", e(0, 0, 2, 10), 3, 10, e(0, 0, 3, 10), true},
		{"entries at or past the start go", e(0, 0, 2, 10, 4, 12), 5, 10, e(0, 0, 5, 10), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := assignEpoch(slices.Clone(tt.in), tt.epoch, tt.start)
			if !slices.Equal(got, tt.want) || changed != tt.changed {
				t.Fatalf("assign(%v, %d, %d) = %v, %v; want %v, %v", tt.in, tt.epoch, tt.start, got, changed, tt.want, tt.changed)
			}
		})
	}
}

func TestEpochCacheTruncation(t *testing.T) {
	base := []EpochEntry{{0, 0}, {2, 10}, {5, 20}}
	tests := []struct {
		name      string
		fromEnd   int64 // -1: not cut
		fromStart int64 // -1: not cut
		want      []EpochEntry
	}{
		{"end past every entry keeps all", 25, -1, base},
		{"end at an entry's start drops it", 20, -1, base[:2]},
		{"end inside an epoch keeps it", 15, -1, base[:2]},
		{"end at zero drops all", 0, -1, nil},
		{"start inside the first epoch moves it up", -1, 5, []EpochEntry{{0, 5}, {2, 10}, {5, 20}}},
		{"start at an entry's start drops those before", -1, 10, []EpochEntry{{2, 10}, {5, 20}}},
		{"start past the last entry keeps it, moved up", -1, 30, []EpochEntry{{5, 30}}},
		{"start before the first entry changes nothing", -1, 0, base},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := slices.Clone(base)
			if tt.fromEnd >= 0 {
				got, _ = truncateEpochsFromEnd(got, tt.fromEnd)
			}
			if tt.fromStart >= 0 {
				got, _ = truncateEpochsFromStart(got, tt.fromStart)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEndOffsetForEpoch(t *testing.T) {
	entries := []EpochEntry{{1, 5}, {3, 10}, {6, 20}}
	const leo = 30
	tests := []struct {
		requested int32
		epoch     int32
		end       int64
	}{
		{-1, -1, -1},  // undefined
		{7, -1, -1},   // newer than the latest
		{6, 6, leo},   // the latest ends at the log end
		{3, 3, 20},    // ends where the next begins
		{4, 3, 20},    // between: the largest epoch below it
		{5, 3, 20},    //
		{1, 1, 10},    // the first
		{0, 0, 5},     // older than every entry: itself, the first start
		{-5, -5, 5},   //
		{2, 1, 10},    //
		{100, -1, -1}, //
	}
	for _, tt := range tests {
		e, end := endOffsetForEpoch(entries, tt.requested, leo)
		if e != tt.epoch || end != tt.end {
			t.Errorf("endOffsetForEpoch(%d) = (%d, %d), want (%d, %d)", tt.requested, e, end, tt.epoch, tt.end)
		}
	}
	if e, end := endOffsetForEpoch(nil, 0, leo); e != -1 || end != -1 {
		t.Errorf("empty cache: (%d, %d), want (-1, -1)", e, end)
	}
}

func TestEpochCheckpointRoundTrip(t *testing.T) {
	for _, entries := range [][]EpochEntry{nil, {{0, 0}}, {{0, 0}, {3, 17}, {9, 1 << 40}}} {
		got, err := decodeEpochCheckpoint(encodeEpochCheckpoint(entries))
		if err != nil || !slices.Equal(got, entries) {
			t.Fatalf("round trip of %v: %v, %v", entries, got, err)
		}
	}
}

// FuzzParseEpochCheckpoint: any payload of a leader-epoch-checkpoint file
// parses to an error or to entries with non-negative, strictly increasing
// epochs and start offsets that encode back to the same bytes; never
// panic. The framing around it is fuzzed once, in package framedfile.
func FuzzParseEpochCheckpoint(f *testing.F) {
	payload := func(entries []EpochEntry) []byte {
		b := encodeEpochCheckpoint(entries)
		return b[framedfile.HeaderSize : len(b)-framedfile.TrailerSize]
	}
	f.Add(payload([]EpochEntry{{0, 0}, {3, 17}}))
	f.Add(payload(nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := parseEpochCheckpoint(b)
		if err != nil {
			return
		}
		for i, e := range entries {
			if e.Epoch < 0 || e.StartOffset < 0 || i > 0 && (e.Epoch <= entries[i-1].Epoch || e.StartOffset <= entries[i-1].StartOffset) {
				t.Fatalf("accepted entries %v", entries)
			}
		}
		if got := payload(entries); string(got) != string(b) {
			t.Fatalf("parse/encode round trip differs:\n in %x\nout %x", b, got)
		}
	})
}
