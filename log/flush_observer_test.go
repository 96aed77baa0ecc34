package log_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// TestFlushObserver: a Manager's logs report every fsync to the observer
// set after they were opened.
func TestFlushObserver(t *testing.T) {
	m, err := log.OpenManager(t.TempDir(), log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tp, err := m.CreateTopic("f", 1, map[string]string{log.ConfigFlushMessages: "1"})
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	m.SetFlushObserver(func(d time.Duration, err error) {
		if err == nil && d > 0 {
			n.Add(1)
		}
	})
	for range 5 {
		if _, err := tp.Partitions[0].Append(recordbatch.Build(1, 10, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.Load(); got != 5 {
		t.Errorf("observer saw %d fsyncs for 5 appends under flush.messages=1", got)
	}
}
