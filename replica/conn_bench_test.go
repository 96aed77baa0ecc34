package replica_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
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

// cannedLeader answers every request on its connections with a response
// encoded once by kmsg (ApiVersions with api, anything else with fetch),
// only the correlation ID patched in: a leader that costs the follower
// nothing, so that a benchmark counts the follower's work alone.
func cannedLeader(b *testing.B, api, fetch kmsg.Response) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	frame := func(r kmsg.Response, flexibleHeader bool) []byte {
		out := []byte{0, 0, 0, 0, 0, 0, 0, 0} // size, correlation ID
		if flexibleHeader {
			out = append(out, 0) // no header tags
		}
		out = r.AppendTo(out)
		binary.BigEndian.PutUint32(out, uint32(len(out)-4))
		return out
	}
	apiFrame, fetchFrame := frame(api, false), frame(fetch, fetch.IsFlexible())
	var wg sync.WaitGroup
	b.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				var hdr [12]byte // size, key, version, correlation ID
				body := make([]byte, 0, 1<<16)
				for {
					if _, err := io.ReadFull(nc, hdr[:]); err != nil {
						return
					}
					size := int(binary.BigEndian.Uint32(hdr[:4]))
					body = slices.Grow(body[:0], size-8)[:size-8]
					if _, err := io.ReadFull(nc, body); err != nil {
						return
					}
					out := fetchFrame
					if binary.BigEndian.Uint16(hdr[4:]) == 18 {
						out = apiFrame
					}
					copy(out[4:8], hdr[8:12])
					if _, err := nc.Write(out); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// BenchmarkConnFetch is the follower's side of one replica fetch through a
// Conn (write the request, read and decode the answer) from a leader
// whose answer costs nothing: its allocations are the Conn's and kmsg's
// per fetch, whatever the answer's size.
func BenchmarkConnFetch(b *testing.B) {
	for _, size := range []int{16 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("response=%dKiB", size>>10), func(b *testing.B) {
			api := kmsg.NewPtrApiVersionsResponse()
			api.Version = 3
			for _, k := range []int16{1, 3, 18} {
				ak := kmsg.NewApiVersionsResponseApiKey()
				ak.ApiKey, ak.MaxVersion = k, kmsg.NewPtrFetchRequest().MaxVersion()
				if k == 18 {
					ak.MaxVersion = 3
				}
				api.ApiKeys = append(api.ApiKeys, ak)
			}
			req := fetchOf("t", [16]byte{1}, 0, 0)
			fetch := kmsg.NewPtrFetchResponse()
			fetch.Version = req.MaxVersion()
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = "t", [16]byte{1}
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.HighWatermark, rp.LastStableOffset = 1000, 1000
			rp.RecordBatches = recordbatch.BuildSized(size, 1_700_000_000_000)
			rt.Partitions = append(rt.Partitions, rp)
			fetch.Topics = append(fetch.Topics, rt)
			c := replica.NewConn(1, replica.ConnConfig{Addr: cannedLeader(b, api, fetch)})
			defer c.Close()
			ctx, cancel := context.WithCancel(context.Background()) // as the fetcher's: cancellable
			defer cancel()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.Fetch(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				if len(resp.Topics[0].Partitions[0].RecordBatches) != size {
					b.Fatal("short answer")
				}
			}
		})
	}
}

// BenchmarkReplicationLatency is the time from a leader's append of one
// small batch to its follower's append of it: the follower's fetch, long
// polling at a real broker in this process, is woken, answered and
// applied, and its next fetch is sent; through replica.Conn (the
// fetcher's goroutine reads and writes the socket itself) and, as the
// baseline of the same run, KgoRequester (franz-go's connection
// goroutines in between).
func BenchmarkReplicationLatency(b *testing.B) {
	addr, mgr := startBrokerWithLogs(b)
	tp, err := mgr.CreateTopic("t", 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	leader, _ := mgr.Partition("t", 0)
	batch := recordbatch.Build(1, 100, 1_700_000_000_000)
	state := cluster.PartitionState{Topic: "t", Partition: 0, Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}
	for _, via := range []string{"conn", "kgo"} {
		b.Run("via="+via, func(b *testing.B) {
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
			defer follower.Close()
			// The follower starts where the leader is (earlier runs
			// appended there).
			if err := follower.TruncateFullyAndStartAt(leader.NextOffset()); err != nil {
				b.Fatal(err)
			}
			f := replica.NewFetcher(1, req, replica.FetcherConfig{Self: 2, Logger: slog.New(slog.DiscardHandler)})
			defer f.Close()
			if err := f.Add(follower, state, tp.ID); err != nil {
				b.Fatal(err)
			}
			var w tlog.Waiter
			b.ReportAllocs()
			for b.Loop() {
				next := follower.NextOffset()
				w.Reset(1)
				w.Watch(follower, next, follower.AppendedBytes(), 1<<20)
				if _, err := leader.Append(batch); err != nil {
					b.Fatal(err)
				}
				select {
				case <-w.Ready():
				case <-time.After(10 * time.Second):
					b.Fatalf("the follower did not take offset %d", next)
				}
				w.Stop()
			}
		})
	}
}
