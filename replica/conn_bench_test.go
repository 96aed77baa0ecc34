package replica_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/cluster"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/replica"
)

// BenchmarkReplicaFetch is one fetch of a partition holding about size
// bytes from a real broker in this process, through replica.Conn (its
// response buffer reused) and, as the baseline of the same run, through
// KgoRequester (a franz-go client, which reads every response into new
// memory). Both sides' work is counted, the broker's included: the
// difference between the two is the follower's.
func BenchmarkReplicaFetch(b *testing.B) {
	for _, s := range []struct {
		name string
		size int
	}{{"16KiB", 16 << 10}, {"1MiB", 1 << 20}} {
		addr, mgr := startBrokerWithLogs(b)
		tp, err := mgr.CreateTopic("t", 1, nil)
		if err != nil {
			b.Fatal(err)
		}
		l, _ := mgr.Partition("t", 0)
		for l.AppendedBytes() < int64(s.size) {
			batch := recordbatch.BuildSized(min(s.size, 64<<10), 1_700_000_000_000)
			if _, err := l.Append(batch); err != nil {
				b.Fatal(err)
			}
		}
		ctx := context.Background()
		for _, via := range []string{"conn", "kgo"} {
			b.Run("response="+s.name+"/via="+via, func(b *testing.B) {
				var req replica.Requester
				if via == "conn" {
					c := replica.NewConn(1, replica.ConnConfig{Addr: addr})
					defer c.Close()
					req = c
				} else {
					k, err := replica.NewKgoRequester(0, kgo.SeedBrokers(addr))
					if err != nil {
						b.Fatal(err)
					}
					defer k.Close()
					req = k
				}
				fr := fetchOf("t", tp.ID, 0, 0)
				fr.MaxBytes = int32(2 * s.size)
				fr.Topics[0].Partitions[0].PartitionMaxBytes = int32(2 * s.size)
				b.ReportAllocs()
				var n int
				for b.Loop() {
					var resp *kmsg.FetchResponse
					if c, ok := req.(*replica.Conn); ok {
						if resp, err = c.Fetch(ctx, fr); err != nil {
							b.Fatal(err)
						}
					} else {
						r, err := req.Request(ctx, fr)
						if err != nil {
							b.Fatal(err)
						}
						resp = r.(*kmsg.FetchResponse)
					}
					n = len(resp.Topics[0].Partitions[0].RecordBatches)
				}
				if n < s.size {
					b.Fatalf("fetched %d bytes, want %d", n, s.size)
				}
				b.SetBytes(int64(n))
			})
		}
	}
}

// BenchmarkFollowerCatchUp is a follower replicating a partition of 16
// MiB of snappy batches (16 records of 1 KiB, franz-go's default codec)
// from a real broker in this process into an empty log, through
// replica.Conn and, as the baseline of the same run, through
// KgoRequester. One iteration is one whole catch-up by a new fetcher;
// the broker's work and the follower's appends are counted.
func BenchmarkFollowerCatchUp(b *testing.B) {
	addr, mgr := startBrokerWithLogs(b)
	tp, err := mgr.CreateTopic("t", 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	leader, _ := mgr.Partition("t", 0)
	rng := rand.New(rand.NewPCG(1, 2))
	for leader.AppendedBytes() < 16<<20 {
		recs := make([]recordbatch.Record, 16)
		for i := range recs {
			v := make([]byte, 1<<10)
			for j := range v {
				v[j] = byte('a' + rng.IntN(16)) // compresses about 2:1
			}
			recs[i] = recordbatch.Record{Offset: int64(i), Timestamp: 1_700_000_000_000, Value: v}
		}
		batch, err := recordbatch.Encode(nil, recordbatch.BatchOptions{Codec: recordbatch.CodecSnappy}, recs)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := leader.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	end, size := leader.NextOffset(), leader.AppendedBytes()
	state := cluster.PartitionState{Topic: "t", Partition: 0, Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}
	for _, via := range []string{"conn", "kgo"} {
		b.Run("via="+via, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				var req replica.Requester
				if via == "conn" {
					c := replica.NewConn(1, replica.ConnConfig{Addr: addr})
					defer c.Close()
					req = c
				} else {
					k, err := replica.NewKgoRequester(0, kgo.SeedBrokers(addr))
					if err != nil {
						b.Fatal(err)
					}
					defer k.Close()
					req = k
				}
				cfg := tlog.DefaultConfig()
				cfg.Logger = slog.New(slog.DiscardHandler)
				follower, err := tlog.Open(b.TempDir(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				f := replica.NewFetcher(1, req, replica.FetcherConfig{Self: 2, Logger: slog.New(slog.DiscardHandler)})
				if err := f.Add(follower, state, tp.ID); err != nil {
					b.Fatal(err)
				}
				for follower.NextOffset() < end {
					time.Sleep(100 * time.Microsecond)
				}
				f.Close()
				follower.Close()
			}
		})
	}
}
