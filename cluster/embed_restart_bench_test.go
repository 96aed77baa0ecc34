package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// BenchmarkEmbeddedRestart times a voter's restart (StartEmbedded until
// its member serves) in a 3-member quorum whose etcd holds revisions
// revisions of 10,000 partition-like keys, written as a failover writes
// them (64 puts a transaction), with that history kept, compacted, or
// compacted and defragmented, with etcd's default snapshot count and
// Tributary's. A restarted member rebuilds its key index from every
// revision its backend keeps and replays its WAL since its last raft
// snapshot.
// Bounded: run with -benchtime=3x.
func BenchmarkEmbeddedRestart(b *testing.B) {
	const keys = 10000
	for _, revisions := range []int{100000, 300000} {
		for _, history := range []string{"kept", "compacted", "compacted+defrag"} {
			// etcd's default snapshot count against Tributary's.
			for _, snap := range []uint64{10000, embedSnapshotCount} {
				name := fmt.Sprintf("revisions=%d/history=%s/snapshot-count=%d", revisions, history, snap)
				b.Run(name, func(b *testing.B) {
					benchEmbeddedRestart(b, keys, revisions, history, snap)
				})
			}
		}
	}
}

func benchEmbeddedRestart(b *testing.B, keys, revisions int, history string, snapshotCount uint64) {
	q := newTestQuorum(b, 3)
	q.startAllWith(func(i int, c *EmbedConfig) {
		c.defrag = defragPolicy{off: true}
		c.snapshotCount = snapshotCount
		c.Logger = nil
	})
	cli := q.testClient()
	ctx := context.Background()
	rev := writePartitionHistory(b, cli, keys, revisions)
	// The member restarted: one that does not lead, so that its
	// restart costs no election.
	i := 0
	for ; i < len(q.members); i++ {
		srv := q.members[i].etcd.Server
		if srv.Leader() != srv.MemberID() {
			break
		}
	}
	if history != "kept" {
		// Asked of the restarted member itself: a physical compaction
		// returns once the member asked has applied it to its backend,
		// not when every member has (one stopped before would resume
		// it on restart).
		own, err := clientv3.New(clientv3.Config{Endpoints: q.members[i].clientURLs, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			b.Fatal(err)
		}
		_, err = own.Compact(ctx, rev, clientv3.WithCompactPhysical())
		_ = own.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	if history == "compacted+defrag" {
		if _, err := cli.Defragment(ctx, q.members[i].clientURLs[0]); err != nil {
			b.Fatal(err)
		}
	}
	c := q.config(i)
	c.defrag = defragPolicy{off: true}
	c.snapshotCount = snapshotCount
	c.Logger = nil
	dir := EtcdDataDir(c.DataDir)
	db := dirSize(b, filepath.Join(dir, "member", "snap", "db"))
	wal := dirSize(b, filepath.Join(dir, "member", "wal"))
	b.ResetTimer()
	var total time.Duration
	for range b.N {
		b.StopTimer()
		q.stop(i)
		b.StartTimer()
		start := time.Now()
		m, err := StartEmbedded(ctx, c)
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		q.members[i] = m
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/restart")
	b.ReportMetric(float64(db)/(1<<20), "MiB-db")
	b.ReportMetric(float64(wal)/(1<<20), "MiB-wal")
}

// writePartitionHistory writes revisions puts of keys partition-like
// values (~300 bytes each, as a PartitionState is encoded), round after
// round over the same keys, 64 puts a transaction, from 4 writers at
// once; it returns the last revision.
func writePartitionHistory(b *testing.B, cli *clientv3.Client, keys, revisions int) int64 {
	b.Helper()
	const perTxn, writers = 64, 4
	val := strings.Repeat("p", 300)
	var (
		mu      sync.Mutex
		last    int64
		firstEr error
		wg      sync.WaitGroup
	)
	txns := (revisions + perTxn - 1) / perTxn
	for w := range writers {
		wg.Go(func() {
			for t := w; t < txns; t += writers {
				ops := make([]clientv3.Op, 0, perTxn)
				for j := t * perTxn; j < (t+1)*perTxn && j < revisions; j++ {
					k := j % keys
					ops = append(ops, clientv3.OpPut(fmt.Sprintf("/bench/partitions/t%03d/%d", k/100, k%100), val[:300-j%7]))
				}
				resp, err := cli.Txn(context.Background()).Then(ops...).Commit()
				mu.Lock()
				if err != nil && firstEr == nil {
					firstEr = err
				}
				if err == nil && resp.Header.Revision > last {
					last = resp.Header.Revision
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if firstEr != nil {
		b.Fatal(firstEr)
	}
	return last
}

// dirSize is the size of the file at path, or of the files under it.
func dirSize(b *testing.B, path string) int64 {
	b.Helper()
	var n int64
	err := filepath.Walk(path, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}
