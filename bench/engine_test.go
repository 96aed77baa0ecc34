package bench_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tributary-io/tributary/bench"
)

// TestEngine runs the load engine against each broker kind in a child
// process: every record produced is acknowledged once and read back once,
// and the child's CPU time, profile and shutdown work.
func TestEngine(t *testing.T) {
	const (
		records    = 10_000
		recordSize = 100
		partitions = 3
	)
	for _, kind := range []string{kindTributary, kindKfake} {
		t.Run(kind, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			p, err := bench.StartBroker(ctx, kind, t.TempDir(), bench.WithPartitions(partitions))
			if err != nil {
				t.Fatal(err)
			}
			stopped := false
			defer func() {
				if !stopped {
					p.Stop()
				}
			}()
			prof := filepath.Join(t.TempDir(), "cpu.pprof")
			if err := p.StartCPUProfile(prof); err != nil {
				t.Fatal(err)
			}

			pcfg := bench.ProduceConfig{
				Brokers:            []string{p.Addr},
				Topic:              "engine",
				Partitions:         partitions,
				Records:            records,
				RecordSize:         recordSize,
				Linger:             time.Millisecond,
				Producers:          2,
				MaxBufferedRecords: 1000,
			}
			pres, err := bench.Produce(ctx, pcfg)
			if err != nil {
				t.Fatalf("produce: %v", err)
			}
			t.Logf("produce: %v, idempotent=%v", pres, pres.Idempotent)
			if pres.Records != records || pres.Bytes != records*recordSize {
				t.Fatalf("produce: %d records, %d bytes acknowledged; want %d, %d", pres.Records, pres.Bytes, records, records*recordSize)
			}
			if l := pres.Latency; l.Samples == 0 || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max {
				t.Errorf("produce latency %+v: want 0 < p50 <= p99 <= max", l)
			}
			if kind == kindKfake && !pres.Idempotent {
				t.Errorf("kfake serves InitProducerID, but the producer was not idempotent")
			}

			cres, err := bench.Consume(ctx, bench.ConsumeConfig{
				Brokers: pcfg.Brokers,
				Topic:   pcfg.Topic,
				Records: records,
			})
			if err != nil {
				t.Fatalf("consume: %v", err)
			}
			t.Logf("consume: %v", cres)
			if cres.Records != pres.Records || cres.Bytes != pres.Bytes {
				t.Fatalf("consume: %d records, %d bytes; produced %d, %d", cres.Records, cres.Bytes, pres.Records, pres.Bytes)
			}

			// Asking for more records than the topic holds ends with ctx.
			short, cancelShort := context.WithTimeout(ctx, 500*time.Millisecond)
			over, err := bench.Consume(short, bench.ConsumeConfig{
				Brokers:      pcfg.Brokers,
				Topic:        pcfg.Topic,
				Records:      records + 1,
				FetchMaxWait: 100 * time.Millisecond,
			})
			cancelShort()
			if err == nil || over.Records > records {
				t.Errorf("consume past the end: %d records, err %v; want at most %d and an error", over.Records, err, records)
			}

			if err := p.StopCPUProfile(); err != nil {
				t.Fatal(err)
			}
			if st, err := os.Stat(prof); err != nil || st.Size() == 0 {
				t.Errorf("cpu profile: %v, %v", st, err)
			}
			running, err := p.CPU()
			if err != nil {
				t.Fatal(err)
			}
			// The child's own rusage and /proc, read from outside, are one
			// clock: /proc counts 10 ms ticks and is read a moment later.
			outside, err := bench.ProcessCPU(p.PID())
			if err != nil {
				t.Fatal(err)
			}
			if running <= 0 || outside < running-20*time.Millisecond || outside > running+50*time.Millisecond {
				t.Errorf("broker CPU: %v by rusage, %v by /proc", running, outside)
			}
			stopped = true
			if err := p.Stop(); err != nil {
				t.Fatal(err)
			}
			final, err := p.CPU()
			if err != nil {
				t.Fatal(err)
			}
			if final < running {
				t.Errorf("broker CPU: %v while running, %v after exit", running, final)
			}
			if err := p.Stop(); err != nil {
				t.Errorf("second Stop: %v", err)
			}
		})
	}
}
