package clustertest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-io/tributary/index"
	"github.com/tributary-io/tributary/segment"
)

// clockTimeout bounds one clock-jump test on one broker.
const clockTimeout = 2 * time.Minute

// stamped is one record produced to a LogAppendTime topic, with the
// system clock read around its produce.
type stamped struct {
	offset        int64
	before, after time.Time
	jump          time.Duration // the leader's clock offset meanwhile
}

// produceStamped produces one record to topic's partition p and returns
// its offset, with the system clock around the produce.
func produceStamped(ctx context.Context, cl *kgo.Client, topic string, p int32, jump time.Duration) (stamped, error) {
	s := stamped{before: time.Now(), jump: jump}
	r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte("clock " + jump.String())}).First()
	s.after = time.Now()
	if err != nil {
		return s, fmt.Errorf("produce to %s/%d with the clock at %v: %w", topic, p, jump, err)
	}
	s.offset = r.Offset
	return s, nil
}

// wantStamp checks that ts, a record's LogAppendTime, is the leader's
// clock when it appended it: the system's plus s.jump.
func (s stamped) wantStamp(ts int64) error {
	lo, hi := s.before.Add(s.jump).UnixMilli(), s.after.Add(s.jump).UnixMilli()+1
	if ts < lo || ts > hi {
		return fmt.Errorf("offset %d appended with the leader's clock at %v: LogAppendTime %s, want within [%s, %s]",
			s.offset, s.jump, time.UnixMilli(ts).UTC(), time.UnixMilli(lo).UTC(), time.UnixMilli(hi).UTC())
	}
	return nil
}

// readTimestamps consumes topic's partition p from offset from up to end
// (exclusive) and returns each record's timestamp by offset.
func readTimestamps(ctx context.Context, c *Cluster, topic string, p int32, from, end int64) (map[int64]int64, error) {
	cl := c.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(from)}}))
	defer cl.Close()
	out := map[int64]int64{}
	for int64(len(out)) < end-from {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("read %s/%d [%d, %d): %d records: %w", topic, p, from, end, len(out), err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < end {
				out[r.Offset] = r.Timestamp.UnixMilli()
			}
		})
	}
	return out, nil
}

// timeIndexesIncrease checks every time index of topic's partitions in
// dataDir (a stopped broker's): within each file, timestamps strictly
// increase and offsets never decrease, whatever the clock did, as
// Kafka keeps them. It returns how many entries it read.
func timeIndexesIncrease(dataDir, topic string) (int, error) {
	dirs, err := filepath.Glob(filepath.Join(dataDir, topic+"-*"))
	if err != nil || len(dirs) == 0 {
		return 0, fmt.Errorf("no partition of %s in %s (%v)", topic, dataDir, err)
	}
	entries := 0
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*"+segment.TimeIndexSuffix))
		if err != nil {
			return entries, err
		}
		for _, f := range files {
			var base int64
			if _, err := fmt.Sscanf(filepath.Base(f), "%020d", &base); err != nil {
				return entries, fmt.Errorf("%s: %w", f, err)
			}
			x, err := index.OpenTimeIndex(f, base, 0, false)
			if err != nil {
				return entries, err
			}
			for i := range x.Entries() {
				ts, rel := x.Entry(i)
				entries++
				if i == 0 {
					continue
				}
				if pts, prel := x.Entry(i - 1); ts <= pts || rel < prel {
					x.Close()
					return entries, fmt.Errorf("%s: entry %d (%d→%d) goes back from entry %d (%d→%d)", f, i, ts, rel, i-1, pts, prel)
				}
			}
			x.Close()
		}
	}
	return entries, nil
}

// listAfter is the offset ListOffsets answers for the first record at or
// after ts (ms) in topic's partition p.
func listAfter(ctx context.Context, adm *kadm.Client, topic string, p int32, ts int64) (int64, error) {
	lo, err := adm.ListOffsetsAfterMilli(ctx, ts, topic)
	if err != nil {
		return 0, err
	}
	o, ok := lo.Lookup(topic, p)
	if !ok {
		return 0, fmt.Errorf("ListOffsets by time: no answer for %s/%d", topic, p)
	}
	return o.Offset, o.Err
}

// startOffset is topic's partition p's log start offset.
func startOffset(ctx context.Context, adm *kadm.Client, topic string, p int32) (int64, error) {
	lo, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	o, ok := lo.Lookup(topic, p)
	if !ok {
		return 0, fmt.Errorf("ListOffsets earliest: no answer for %s/%d", topic, p)
	}
	return o.Offset, o.Err
}

// committed is group's committed offset of topic's partition p, -1 if
// it has none.
func committed(ctx context.Context, adm *kadm.Client, group, topic string, p int32) (int64, error) {
	resps, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return 0, err
	}
	r, ok := resps.Lookup(topic, p)
	if !ok {
		return -1, nil
	}
	return r.At, r.Err
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
		case <-time.After(waitEvery):
		}
	}
}

func TestClockJumpNeedsTheFaultBuild(t *testing.T) {
	_, rng := Seed(t)
	c := newCluster(t, Config{Nodes: 1, Rand: rng, Bin: "tributary"}) // nothing started
	if err := c.ClockJump(1, time.Hour); !errors.Is(err, errNoClockFault) {
		t.Fatalf("ClockJump without Config.ClockFault: %v, want errNoClockFault", err)
	}
}

// TestClockJumpOnOneBrokerStampsRetainsAndExpiresByItsClock: one broker
// (the fault build) whose wall clock jumps forward and back. What Kafka
// does by the broker's clock follows it: LogAppendTime, time retention,
// offset expiry; what it orders by timestamp does not go back: the time
// index, ListOffsets by time.
func TestClockJumpOnOneBrokerStampsRetainsAndExpiresByItsClock(t *testing.T) {
	skipShort(t)
	ctx, cancel := context.WithTimeout(context.Background(), clockTimeout)
	defer cancel()
	c := Start(t, Config{Nodes: 1, ClockFault: true, Args: []string{
		"--log.retention.check.interval.ms", "200",
		"--offsets.retention.check.interval.ms", "200",
		"--offsets.retention.minutes", "180",
	}})
	adm := c.Admin()
	lat, idx := "LogAppendTime", "1"
	if err := c.CreateTopic(ctx, "clk-lat", 1, 1, map[string]*string{"message.timestamp.type": &lat, "index.interval.bytes": &idx}); err != nil {
		t.Fatal(err)
	}
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))

	// LogAppendTime is the leader's clock, jumped or not; the time index
	// keeps its largest timestamp.
	var recs []stamped
	for _, jump := range []time.Duration{0, 90 * time.Second, 3 * time.Hour, -2 * time.Hour, 0} {
		if err := c.ClockJump(1, jump); err != nil {
			t.Fatal(err)
		}
		s, err := produceStamped(ctx, cl, "clk-lat", 0, jump)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, s)
	}
	if err := c.ClockJump(1, 0); err != nil {
		t.Fatal(err)
	}
	ts, err := readTimestamps(ctx, c, "clk-lat", 0, recs[0].offset, recs[len(recs)-1].offset+1)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range recs {
		if err := s.wantStamp(ts[s.offset]); err != nil {
			t.Error(err)
		}
	}
	// The first record at or after an hour from now is the one stamped
	// three hours ahead, though later ones are stamped earlier; before
	// them all, the first.
	if off, err := listAfter(ctx, adm, "clk-lat", 0, recs[0].after.Add(time.Hour).UnixMilli()); err != nil || off != recs[2].offset {
		t.Errorf("ListOffsets an hour ahead: %d, %v; want %d (stamped +3h)", off, err, recs[2].offset)
	}
	if off, err := listAfter(ctx, adm, "clk-lat", 0, recs[0].before.Add(-time.Hour).UnixMilli()); err != nil || off != recs[0].offset {
		t.Errorf("ListOffsets an hour back: %d, %v; want %d", off, err, recs[0].offset)
	}

	// Time retention: a forward jump past retention.ms deletes what it
	// now finds too old, as Kafka does; retention.ms=-1 keeps it.
	segBytes, hour, never := "200", "3600000", "-1"
	for topic, retention := range map[string]*string{"clk-ret-1h": &hour, "clk-ret-never": &never} {
		if err := c.CreateTopic(ctx, topic, 1, 1, map[string]*string{"retention.ms": retention, "segment.bytes": &segBytes}); err != nil {
			t.Fatal(err)
		}
		for range 20 {
			if _, err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(strings.Repeat("r", 100))}).First(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// An hour's jump is not past an hour's retention (nothing is a full
	// hour and a millisecond old yet) ...
	if err := c.ClockJump(1, 59*time.Minute); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // five retention passes
	for _, topic := range []string{"clk-ret-1h", "clk-ret-never"} {
		if start, err := startOffset(ctx, adm, topic, 0); err != nil || start != 0 {
			t.Fatalf("%s after a 59 min jump: log start %d, %v; want 0", topic, start, err)
		}
	}
	// ... two hours' is.
	if err := c.ClockJump(1, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, "retention of clk-ret-1h", func() (bool, error) {
		start, err := startOffset(ctx, adm, "clk-ret-1h", 0)
		return start > 0, err
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if start, err := startOffset(ctx, adm, "clk-ret-never", 0); err != nil || start != 0 {
		t.Errorf("clk-ret-never (retention.ms=-1) after a 2h jump: log start %d, %v; want 0", start, err)
	}
	if err := c.ClockJump(1, 0); err != nil {
		t.Fatal(err)
	}

	// Committed offsets (a simple commit, which expires
	// offsets.retention.minutes, 3h here, after it was made) survive a
	// jump shorter than that and expire past it. A canary committed with
	// the clock two hours back is four hours old at +2h: its expiry says
	// a pass ran with the clock jumped.
	commit := func(group string, at int64) {
		t.Helper()
		offs := kadm.Offsets{}
		offs.AddOffset("clk-lat", 0, at, -1)
		resps, err := adm.CommitOffsets(ctx, group, offs)
		if err == nil {
			err = resps.Error()
		}
		if err != nil {
			t.Fatalf("commit %s: %v", group, err)
		}
	}
	commit("clk-kept", 3)
	if err := c.ClockJump(1, -2*time.Hour); err != nil {
		t.Fatal(err)
	}
	commit("clk-canary", 2)
	if err := c.ClockJump(1, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, "expiry of clk-canary's offsets", func() (bool, error) {
		at, err := committed(ctx, adm, "clk-canary", "clk-lat", 0)
		return at < 0, err
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if at, err := committed(ctx, adm, "clk-kept", "clk-lat", 0); err != nil || at != 3 {
		t.Fatalf("clk-kept after a 2h jump (retention 3h): committed %d, %v; want 3", at, err)
	}
	if err := c.ClockJump(1, 4*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, "expiry of clk-kept's offsets past offsets.retention.minutes", func() (bool, error) {
		at, err := committed(ctx, adm, "clk-kept", "clk-lat", 0)
		return at < 0, err
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.ClockJump(1, 0); err != nil {
		t.Fatal(err)
	}

	// On disk, after a clean stop: every time index only goes forward.
	if err := c.Term(1); err != nil {
		t.Fatal(err)
	}
	n, err := timeIndexesIncrease(c.Nodes[0].DataDir, "clk-lat")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		// +90s and +3h: the jumps back add none.
		t.Fatalf("clk-lat's time index has %d entries, want 2 (index.interval.bytes=1: +90s, +3h)", n)
	}
}
