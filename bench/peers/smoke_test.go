package peers

import (
	"context"
	"strings"
	"testing"
	"time"
)

// smokeScale is small enough for `make test` under -race: every driver
// and every workload kind, a few thousand records.
var smokeScale = Scale{Small: 2000, Large: 300, Rate: 2000, Duration: 300 * time.Millisecond}

// TestDriversSmoke runs every workload once on every system that is
// installed here, through Run, and checks that each measurement is whole:
// the drivers must keep working, whatever the numbers.
func TestDriversSmoke(t *testing.T) {
	for _, sys := range Systems() {
		t.Run(sys.Name, func(t *testing.T) {
			if why := sys.Missing(); why != "" {
				t.Skip(why)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var log strings.Builder
			res, err := Run(ctx, Config{
				Systems:         []System{sys},
				Workloads:       Workloads(smokeScale),
				Dir:             t.TempDir(),
				Log:             &log,
				WorkloadTimeout: 30 * time.Second,
			})
			if err != nil {
				t.Fatalf("%v\n%s", err, log.String())
			}
			if len(res.Measurements) != len(res.Workloads) {
				t.Fatalf("%d measurements for %d workloads\n%s", len(res.Measurements), len(res.Workloads), log.String())
			}
			for i, m := range res.Measurements {
				w := res.Workloads[i]
				if m.Err != "" {
					t.Errorf("%s: %s", w.Name, m.Err)
					continue
				}
				if m.Elapsed <= 0 || m.ServerCPU <= 0 {
					t.Errorf("%s: elapsed %v, server CPU %v", w.Name, m.Elapsed, m.ServerCPU)
				}
				if w.Kind == Latency {
					// At least half of what the rate allows: the machine may be busy.
					if want := int64(w.Rate * w.Duration.Seconds() / 2); m.Records < want || m.Latency.Samples != int(m.Records) {
						t.Errorf("%s: %d records, %d latencies; want at least %d", w.Name, m.Records, m.Latency.Samples, want)
					}
				}
			}
			if t.Failed() {
				t.Log(log.String())
			}
			if sys.Name != KindKfake && res.DiskBytes[sys.Name][0] == 0 {
				t.Errorf("nothing on disk")
			}
			if sys.Name == KindTributary && res.SegmentLogBytes[0] < smokeScale.Small*smallRecord {
				t.Errorf("segment logs hold %d bytes, fewer than the %d bytes of values produced", res.SegmentLogBytes[0], smokeScale.Small*smallRecord)
			}
		})
	}
}
