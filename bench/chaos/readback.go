package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-io/tributary/internal/clustertest"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// partLogs are the partitions' logs as read back (online, or offline
// from the data dir), in the checker's terms: every record from the log
// start offset up to the log end offset.
type partLogs = map[clustertest.TopicPartition]*clustertest.PartitionLog

// readOnline reads every partition of topic from start[p] up to end[p] with
// a fresh franz-go client (no group), as a consumer would, into tl.
func readOnline(ctx context.Context, addr, topic string, start, end map[int32]int64, tl partLogs) error {
	parts := map[int32]kgo.Offset{}
	for p, e := range end {
		s := start[p]
		tl[clustertest.TopicPartition{Topic: topic, Partition: p}] = &clustertest.PartitionLog{Start: s, End: e}
		if e > s {
			parts[p] = kgo.NewOffset().At(s)
		}
	}
	if len(parts) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.RetryBackoffFn(fastBackoff))
	if err != nil {
		return fmt.Errorf("chaos: read back %s: %w", topic, err)
	}
	defer cl.Close()
	left := len(parts)
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("chaos: read back %s: %w (%s)", topic, err, progress(tl))
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("%s/%d: %w", t, p, err))
		})
		if ferr != nil {
			return fmt.Errorf("chaos: read back %s: %w", topic, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			pl := tl[clustertest.TopicPartition{Topic: r.Topic, Partition: r.Partition}]
			if pl == nil || r.Offset >= pl.End {
				return
			}
			id, ok := ParseValue(r.Value)
			pl.Records = append(pl.Records, clustertest.LogRecord{Offset: r.Offset, ID: id, OK: ok})
			if r.Offset == pl.End-1 {
				left--
			}
		})
	}
	return nil
}

func progress(tl partLogs) string {
	var b strings.Builder
	for tp, pl := range tl {
		fmt.Fprintf(&b, "%s: %d of [%d,%d) ", tp, len(pl.Records), pl.Start, pl.End)
	}
	return b.String()
}

// offlineReport is what the offline check of a data dir found.
type offlineReport struct {
	Logs       partLogs // of the topics asked for
	Partitions int      // partition dirs verified, internal topics included
	Problems   []string // damage VerifyPartition reported, anywhere
	Warnings   int
}

// readOffline reads the data dir of a stopped broker without opening it as
// a broker would: every partition is checked by log.VerifyPartition (CRCs,
// contiguous offsets, indexes, checkpoints), and the records of the topics
// named are decoded from the segment files.
func readOffline(dataDir string, topics ...string) (*offlineReport, error) {
	dd, err := tlog.ListPartitions(dataDir)
	if err != nil {
		return nil, err
	}
	r := &offlineReport{Logs: partLogs{}, Warnings: len(dd.Warnings)}
	for _, p := range dd.Problems {
		r.Problems = append(r.Problems, p.Error())
	}
	want := map[string]bool{}
	for _, t := range topics {
		want[t] = true
	}
	for _, pd := range dd.Partitions {
		r.Partitions++
		var recs []clustertest.LogRecord
		opts := tlog.VerifyOptions{IndexIntervalBytes: pd.Config.IndexIntervalBytes}
		if want[pd.Topic] {
			opts.Batch = func(path string, h *recordbatch.Header, pos int64, batch []byte, problem error) error {
				if problem != nil {
					return nil // reported in Problems
				}
				return recordbatch.Records(batch, recordbatch.DefaultDecompressLimit, func(rec recordbatch.Record) error {
					id, ok := ParseValue(rec.Value)
					recs = append(recs, clustertest.LogRecord{Offset: rec.Offset, ID: id, OK: ok})
					return nil
				})
			}
		}
		rep, err := tlog.VerifyPartition(pd.Dir, opts)
		if err != nil {
			return r, fmt.Errorf("chaos: verify %s: %w", pd.Dir, err)
		}
		for _, p := range rep.Problems {
			r.Problems = append(r.Problems, p.Error())
		}
		r.Warnings += len(rep.Warnings)
		if !want[pd.Topic] {
			continue
		}
		// The first segment may still hold records below the log start
		// offset (DeleteRecords moves it mid-segment); they are not in
		// the log any more.
		i := 0
		for i < len(recs) && recs[i].Offset < rep.LogStartOffset {
			i++
		}
		tp := clustertest.TopicPartition{Topic: pd.Topic, Partition: int32(pd.Partition)}
		r.Logs[tp] = &clustertest.PartitionLog{Start: rep.LogStartOffset, End: rep.LogEndOffset, Records: recs[i:]}
	}
	return r, nil
}

// segmentFiles returns the size of every .log file of the partition
// directories of topic in dataDir, by path, for spotting a roll, a
// deletion or an append as it happens.
func segmentFiles(dataDir, topic string, partitions int) (map[string]int64, error) {
	out := map[string]int64{}
	for p := range partitions {
		dir := filepath.Join(dataDir, fmt.Sprintf("%s-%d", topic, p))
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".log") {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				return nil, err // deleted meanwhile
			}
			out[filepath.Join(dir, e.Name())] = fi.Size()
		}
	}
	return out, nil
}
