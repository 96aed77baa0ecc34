package server

// Many idle consumer groups over the wire: what each costs the broker's
// memory, and what they do to one /metrics scrape.

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/internal/stallwatch"
)

// scaleGroupCount is how many groups TestIdleGroupsOverTheWire creates:
// 20,000 (10,000 with -short), or TRIBUTARY_SCALE_GROUPS.
func scaleGroupCount(t testing.TB) int {
	if s := os.Getenv("TRIBUTARY_SCALE_GROUPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("TRIBUTARY_SCALE_GROUPS=%q: want a positive count", s)
		}
		return n
	}
	if testing.Short() {
		return 10_000
	}
	return 20_000
}

// scrapeMetrics returns what one GET /metrics returns, as serve exposes it.
func scrapeMetrics(t testing.TB, b *testBroker) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(b.srv.Registry(), promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	return rec.Body.String()
}

// simpleCommits commits offset i of partition i%4 of topic for groups
// prefix-0 .. prefix-(n-1), one group each, as kcat and
// kafka-consumer-groups do (generation -1, no member), from 8 goroutines,
// calling progressed (if not nil) after each commit.
func simpleCommits(t testing.TB, ctx context.Context, progressed func(), cl *kgo.Client, topic, prefix string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				req := kmsg.NewPtrOffsetCommitRequest()
				req.Group = fmt.Sprintf("%s-%07d", prefix, i)
				req.Generation = -1
				rt := kmsg.NewOffsetCommitRequestTopic()
				rt.Topic = topic
				rp := kmsg.NewOffsetCommitRequestTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch = int32(i%4), int64(i), -1
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				resp, err := req.RequestWith(ctx, cl)
				if err == nil {
					if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
						err = fmt.Errorf("group %s: error code %d", req.Group, code)
					}
				}
				if err != nil {
					if ctx.Err() != nil {
						err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
					}
					errs <- err
					return
				}
				if progressed != nil {
					progressed()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestIdleGroupsOverTheWire(t *testing.T) {
	const topic = "scale"
	n := scaleGroupCount(t)
	b := startGroupBroker(t)
	// Bounded by progress, not by a total: 20,000 commits cost about 9 s
	// of CPU under -race (~0.5 ms each), which a loaded machine (a load
	// average of 40 on two cores) stretches past any fixed budget while
	// commits still complete every few milliseconds.
	ctx, progressed := stallwatch.Context(t, 30*time.Second)
	createGroupTopic(t, ctx, b.admin(), topic, 4)
	cl := b.client()
	simpleCommits(t, ctx, progressed, cl, topic, "warm", 8) // the offsets topic and the client's connection exist before the baseline
	scrapeMetrics(t, b)

	runtime.GC()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	simpleCommits(t, ctx, progressed, cl, topic, "idle", n)
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	perGroup := (float64(after.HeapAlloc+after.StackInuse) - float64(before.HeapAlloc+before.StackInuse)) / float64(n)

	rss := vmRSS()
	var scrapeStart, scrapeEnd runtime.MemStats
	runtime.ReadMemStats(&scrapeStart)
	start := time.Now()
	body := scrapeMetrics(t, b)
	took := time.Since(start)
	runtime.ReadMemStats(&scrapeEnd)
	series := 0
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "tributary_consumergroup") {
			series++
		}
	}
	t.Logf("%d idle groups over the wire: %.0f B of heap and stacks per group, goroutines %d, process RSS %.0f MB; "+
		"/metrics %d bytes, %d tributary_consumergroup* series, scraped in %v allocating %.1f MB",
		n, perGroup, runtime.NumGoroutine(), float64(rss)/1e6, len(body), series,
		took.Round(time.Millisecond), float64(scrapeEnd.TotalAlloc-scrapeStart.TotalAlloc)/1e6)
	if perGroup > 4096 {
		t.Errorf("an idle group costs %.0f B, want at most 4 KiB", perGroup)
	}
	if len(body) > 2<<20 {
		t.Errorf("/metrics is %d bytes with %d groups, want at most 2 MiB", len(body), n)
	}
}

// vmRSS is the process's resident set size from /proc (Linux), for the
// log only; 0 elsewhere.
func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
