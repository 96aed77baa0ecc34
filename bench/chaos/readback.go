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

	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/recordbatch"
)

// logRec is one record found in a partition's log.
type logRec struct {
	Offset int64
	ID     ID
	OK     bool // the value parsed as one the harness wrote
}

// partLog is one partition's log as read back: every record from Start
// (the log start offset) up to End (the log end offset).
type partLog struct {
	Start, End int64
	Recs       []logRec
}

// topicLog is a topic read back, by partition.
type topicLog map[int32]*partLog

// readOnline reads every partition of topic from start[p] up to end[p] with
// a fresh franz-go client (no group), as a consumer would.
func readOnline(ctx context.Context, addr, topic string, start, end map[int32]int64) (topicLog, error) {
	parts := map[int32]kgo.Offset{}
	tl := topicLog{}
	for p, e := range end {
		s := start[p]
		tl[p] = &partLog{Start: s, End: e}
		if e > s {
			parts[p] = kgo.NewOffset().At(s)
		}
	}
	if len(parts) == 0 {
		return tl, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.RetryBackoffFn(fastBackoff))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	left := len(parts)
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return tl, fmt.Errorf("chaos: read back %s: %w (%s)", topic, err, progress(tl))
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("%s/%d: %w", t, p, err))
		})
		if ferr != nil {
			return tl, fmt.Errorf("chaos: read back %s: %w", topic, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			pl := tl[r.Partition]
			if pl == nil || r.Offset >= pl.End {
				return
			}
			id, ok := ParseValue(r.Value)
			pl.Recs = append(pl.Recs, logRec{Offset: r.Offset, ID: id, OK: ok})
			if r.Offset == pl.End-1 {
				left--
			}
		})
	}
	return tl, nil
}

func progress(tl topicLog) string {
	var b strings.Builder
	for p, pl := range tl {
		fmt.Fprintf(&b, "p%d: %d of [%d,%d) ", p, len(pl.Recs), pl.Start, pl.End)
	}
	return b.String()
}

// offlineReport is what the offline check of a data dir found.
type offlineReport struct {
	Topics     map[string]topicLog
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
	r := &offlineReport{Topics: map[string]topicLog{}, Warnings: len(dd.Warnings)}
	for _, p := range dd.Problems {
		r.Problems = append(r.Problems, p.Error())
	}
	want := map[string]bool{}
	for _, t := range topics {
		want[t] = true
		r.Topics[t] = topicLog{}
	}
	for _, pd := range dd.Partitions {
		r.Partitions++
		var recs []logRec
		opts := tlog.VerifyOptions{IndexIntervalBytes: pd.Config.IndexIntervalBytes}
		if want[pd.Topic] {
			opts.Batch = func(path string, h *recordbatch.Header, pos int64, batch []byte, problem error) error {
				if problem != nil {
					return nil // reported in Problems
				}
				return recordbatch.Records(batch, recordbatch.DefaultDecompressLimit, func(rec recordbatch.Record) error {
					id, ok := ParseValue(rec.Value)
					recs = append(recs, logRec{Offset: rec.Offset, ID: id, OK: ok})
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
		r.Topics[pd.Topic][int32(pd.Partition)] = &partLog{Start: rep.LogStartOffset, End: rep.LogEndOffset, Recs: recs[i:]}
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
