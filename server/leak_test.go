package server

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestNoGoroutineLeak: a broker that served produce, fetch (including a
// long poll cut by shutdown) and admin requests leaves no goroutine behind
// once it and its Manager are closed.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	b := startBroker(t)
	prod, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	produceN(t, prod, "leak", 100)
	cons, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.ConsumeTopics("leak"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	consumeN(t, cons, 100)
	go cons.PollFetches(testContext(t)) // a long poll the shutdown must end
	time.Sleep(100 * time.Millisecond)
	b.stop()
	prod.Close()
	cons.Close()

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		var ours []string
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "tributary-io/tributary/") && !strings.Contains(g, "TestNoGoroutineLeak") {
				ours = append(ours, g)
			}
		}
		if len(ours) > 0 {
			t.Fatalf("%d goroutines before, %d after the broker closed; ours still running:\n%s", before, n, strings.Join(ours, "\n\n"))
		}
	}
}
