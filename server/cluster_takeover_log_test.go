package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/tributary-io/tributary/cluster"
)

// syncBuffer is a log sink several goroutines write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.b.String()), "\n") {
		if l == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, r)
	}
	return out
}

// TestTakeoversOfABatchAreOneInfoLine: the takeovers a pass starts (this
// broker elected leader of partitions it replicated, thousands of them
// when a broker of a 10,000-partition cluster dies) end in one Info line
// saying how many it now leads, how many failed, a few examples and the
// time taken, whatever the number of partitions.
func TestTakeoversOfABatchAreOneInfoLine(t *testing.T) {
	var logs syncBuffer
	r := &reconciler{
		log:           slog.New(slog.NewJSONHandler(&logs, nil)),
		kick:          make(chan struct{}, 1),
		takeovers:     make(map[cluster.TopicPartition]*takeover),
		takeoverSlots: make(chan struct{}, roleChangeWorkers),
		done:          make(chan struct{}),
	}
	const partitions = 200
	refused := errors.New("refused")
	r.lead = func(c roleChange) error {
		if c.tp.Partition == 7 {
			return refused
		}
		return nil
	}
	ts := make([]*takeover, partitions)
	for i := range ts {
		tp := cluster.TopicPartition{Topic: "t", Partition: int32(i)}
		ts[i] = &takeover{c: roleChange{tp: tp, p: cluster.PartitionState{Topic: "t", Partition: int32(i), Leader: 1, LeaderEpoch: 4}},
			done: make(chan struct{})}
	}
	r.mu.Lock()
	r.startTakeovers(ts)
	r.mu.Unlock()
	r.takeoverWG.Wait()

	var found []map[string]any
	for _, l := range logs.lines(t) {
		if l["msg"] == "server: became leader" {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d \"became leader\" lines for a batch of %d takeovers, want 1: %v", len(found), partitions, logs.lines(t))
	}
	l := found[0]
	if l["level"] != "INFO" || l["partitions"] != float64(partitions-1) || l["failed"] != 1.0 || l["took"] == nil {
		t.Fatalf("the batch's line is %v: want INFO, %d partitions led, 1 failed, the time taken", l, partitions-1)
	}
	if ex, _ := l["examples"].([]any); len(ex) == 0 || len(ex) > takeoverExamples {
		t.Fatalf("the batch's line names %v, want 1 to %d examples", l["examples"], takeoverExamples)
	}
}
