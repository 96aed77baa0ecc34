package server

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// gapSegments returns the base offsets of the .log files in dir, sorted.
func gapSegments(t *testing.T, dir string) []int64 {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	var bases []int64
	for _, l := range logs {
		base, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(l), ".log"), 10, 64)
		if err != nil {
			t.Fatalf("segment name %s: %v", l, err)
		}
		bases = append(bases, base)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases
}

// recoveryLostMetric is tributary_log_recovery_lost_offsets_total.
func recoveryLostMetric(t *testing.T, b *testBroker) float64 {
	t.Helper()
	mfs, err := b.srv.Registry().Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "tributary_log_recovery_lost_offsets_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("no tributary_log_recovery_lost_offsets_total")
	return 0
}

// TestRestartAfterDamageLosesOnlyTheDamagedRange produces 2,000 records
// with franz-go, stops the broker, cuts 100 bytes off one middle segment
// and deletes another, and restarts: a franz-go consumer reading across
// the two gaps gets every other record, at its offset, the lost ranges are
// counted in the metric, and producing goes on after the old log end.
func TestRestartAfterDamageLosesOnlyTheDamagedRange(t *testing.T) {
	const n = 2000
	dir := t.TempDir()
	b := startBrokerIn(t, dir, noAutoCreate)
	seg := "8192"
	createTopics(t, kadm.NewClient(b.client()), 1, map[string]*string{"segment.bytes": &seg}, "damaged")
	prod := b.client(kgo.DefaultProduceTopic("damaged"), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx := testContext(t)
	for i := 0; i < n; i += 10 {
		var recs []*kgo.Record
		for j := i; j < i+10; j++ {
			recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "value %04d %s", j, strings.Repeat("x", 80))})
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	b.stop()

	part := filepath.Join(dir, "damaged-0")
	bases := gapSegments(t, part)
	if len(bases) < 7 {
		t.Fatalf("%d segments, want several", len(bases))
	}
	// Cut 100 bytes off segment 2: its batches from the one they reach
	// into are lost, up to segment 3.
	cut := filepath.Join(part, fmt.Sprintf("%020d.log", bases[2]))
	data, err := os.ReadFile(cut)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(cut, int64(len(data)-100)); err != nil {
		t.Fatal(err)
	}
	lostFrom := int64(-1)
	for p := 0; p < len(data); {
		h, err := recordbatch.ParseHeader(data[p:])
		if err != nil {
			t.Fatal(err)
		}
		if p+h.Size() > len(data)-100 {
			lostFrom = h.BaseOffset
			break
		}
		p += h.Size()
	}
	// Delete segment 5.
	for _, suf := range []string{".log", ".index", ".timeindex"} {
		if err := os.Remove(filepath.Join(part, fmt.Sprintf("%020d%s", bases[5], suf))); err != nil {
			t.Fatal(err)
		}
	}
	lost := []tlog.OffsetRange{{From: lostFrom, To: bases[3]}, {From: bases[5], To: bases[6]}}
	isLost := func(off int64) bool {
		for _, r := range lost {
			if off >= r.From && off < r.To {
				return true
			}
		}
		return false
	}
	wantN := n - int(lost[0].Len()+lost[1].Len())

	b = startBrokerIn(t, dir, noAutoCreate)
	if got, want := recoveryLostMetric(t, b), float64(n-wantN); got != want {
		t.Errorf("tributary_log_recovery_lost_offsets_total = %v, want %v", got, want)
	}
	cons := b.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"damaged": {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(100*time.Millisecond))
	recs := consumeN(t, cons, wantN)
	if len(recs) != wantN {
		t.Fatalf("consumed %d records, want %d", len(recs), wantN)
	}
	next := int64(0)
	for _, r := range recs {
		for isLost(next) {
			next++
		}
		if r.Offset != next {
			t.Fatalf("consumed offset %d, want %d (lost: %v)", r.Offset, next, lost)
		}
		if want := fmt.Sprintf("value %04d ", r.Offset); !strings.HasPrefix(string(r.Value), want) {
			t.Fatalf("record at %d is %q, want %q...", r.Offset, r.Value, want)
		}
		next++
	}
	if next != n {
		t.Fatalf("consumed up to offset %d, want %d", next, n)
	}

	// Producing goes on after the old log end; the consumer gets it.
	prod = b.client(kgo.DefaultProduceTopic("damaged"))
	res, err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).First()
	if err != nil || res.Offset != n {
		t.Fatalf("produce after restart: offset %d, %v; want %d", res.Offset, err, n)
	}
	if after := consumeN(t, cons, 1); after[0].Offset != n || string(after[0].Value) != "after" {
		t.Fatalf("consumed %d %q after the restart, want the new record at %d", after[0].Offset, after[0].Value, n)
	}
}
