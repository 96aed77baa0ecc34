package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/tributary-io/tributary/internal/clustertest"
)

// Choosing the moment of a kill, looking at the segment files before and
// after it, and the deletions of RetentionTopic.

// scanAfterKill reads the segment files of both topics as kill c left
// them, before recovery: every record in a CRC-valid batch there must be at
// the same place in the final log (clustertest.CheckOptions.Earlier). It
// counts the records on disk that were not acknowledged (yet): the
// producers retry them after the restart, and the broker must recognise
// each retry as a duplicate.
func (h *harness) scanAfterKill(c int, prods []*Producer) string {
	off, err := readOffline(h.dataDir, MainTopic, RetentionTopic)
	if err != nil {
		return fmt.Sprintf("; scan after kill: %v", err)
	}
	acked := map[ID]bool{}
	for _, p := range prods {
		for _, a := range p.Report().Acks {
			acked[ID{Producer: p.ID, Seq: a.Seq}] = true
		}
	}
	h.afterKills = append(h.afterKills, clustertest.Replica{Name: fmt.Sprintf("the segment files after kill %d", c), Logs: off.Logs})
	inFlight := 0
	for _, pl := range off.Logs {
		for _, r := range pl.Records {
			if r.OK && !acked[r.ID] {
				inFlight++
			}
		}
	}
	h.res.InFlightOnDisk += inFlight
	s := fmt.Sprintf("; on disk: %d records not acknowledged yet, %d problems for recovery", inFlight, len(off.Problems))
	for i, p := range off.Problems {
		if i == 3 {
			s += fmt.Sprintf(" ... (%d more)", len(off.Problems)-3)
			break
		}
		s += " [" + p + "]"
	}
	return s
}

// watchSegments polls the segment files of topic until changed says
// what it saw change (or timeout passes, or ctx ends), so that the kill
// that follows lands in the middle of that change.
func (h *harness) watchSegments(ctx context.Context, topic string, partitions int, timeout time.Duration,
	changed func(before, now map[string]int64) string) string {
	before, err := segmentFiles(h.dataDir, topic, partitions)
	if err != nil {
		return "; " + err.Error()
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(watchEvery)
		now, err := segmentFiles(h.dataDir, topic, partitions)
		if err != nil {
			continue // a file deleted under ReadDir
		}
		if s := changed(before, now); s != "" {
			return "; " + s
		}
	}
	return "; nothing seen in " + timeout.String()
}

// shortName is a segment path as partition-dir/file.
func shortName(path string) string {
	return filepath.Base(filepath.Dir(path)) + "/" + filepath.Base(path)
}

// watchAppend calls burst, then stats the active segment of every
// MainTopic partition without pause until one grows: the broker is then
// between its write and its fsync, or in the fsync (flush.messages=1), and
// its answer is not sent yet.
func (h *harness) watchAppend(ctx context.Context, burst func()) string {
	files, err := segmentFiles(h.dataDir, MainTopic, mainPartitions)
	if err != nil {
		return "; " + err.Error()
	}
	active := map[string]string{} // partition dir: its last .log
	for f := range files {
		dir := filepath.Dir(f)
		if f > active[dir] {
			active[dir] = f // zero-padded names sort by base offset
		}
	}
	size := map[string]int64{}
	for _, f := range active {
		size[f] = files[f]
	}
	burst()
	deadline := time.Now().Add(watchTimeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for f, n := range size {
			fi, err := os.Stat(f)
			if err == nil && fi.Size() > n {
				return fmt.Sprintf("; %s grew from %d to %d bytes", shortName(f), n, fi.Size())
			}
		}
	}
	return "; no append seen in " + watchTimeout.String()
}

// appeared names a segment file that appeared: a roll.
func appeared(before, now map[string]int64) string {
	for f := range now {
		if _, ok := before[f]; !ok {
			return "new segment " + shortName(f)
		}
	}
	return ""
}

// vanished names a segment file that is gone: a deletion.
func vanished(before, now map[string]int64) string {
	for f := range before {
		if _, ok := now[f]; !ok {
			return "segment " + shortName(f) + " deleted"
		}
	}
	return ""
}

// deleteNow sends DeleteRecords for every RetentionTopic partition, down to
// its last deleteKeep records, without waiting for the answer.
func (h *harness) deleteNow(ctx context.Context) string {
	offs, err := h.deleteTargets(ctx, deleteKeep)
	if err != nil || len(offs) == 0 {
		return fmt.Sprintf("; nothing to delete (%v)", err)
	}
	go func() {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, _ = h.adm.DeleteRecords(dctx, offs)
	}()
	var parts []string
	offs.Each(func(o kadm.Offset) { parts = append(parts, fmt.Sprintf("%d<%d", o.Partition, o.At)) })
	slices.Sort(parts)
	return "; DeleteRecords " + strings.Join(parts, " ")
}

// deleteTargets returns, for each RetentionTopic partition, the offset
// below which to delete so that keep records stay.
func (h *harness) deleteTargets(ctx context.Context, keep int64) (kadm.Offsets, error) {
	lctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	starts, err := h.adm.ListStartOffsets(lctx, RetentionTopic)
	if err != nil {
		return nil, err
	}
	ends, err := h.adm.ListEndOffsets(lctx, RetentionTopic)
	if err != nil {
		return nil, err
	}
	offs := kadm.Offsets{}
	ends.Each(func(e kadm.ListedOffset) {
		s, ok := starts.Lookup(e.Topic, e.Partition)
		if e.Err != nil || !ok || s.Err != nil {
			return
		}
		if at := e.Offset - keep; at > s.Offset {
			offs.Add(kadm.Offset{Topic: e.Topic, Partition: e.Partition, At: at, LeaderEpoch: -1})
		}
	})
	return offs, nil
}

// deleteLoop plays retention on RetentionTopic until stop: every
// retentionEvery it deletes all but the last retentionKeep records of each
// partition. Failures (the broker is down) are expected.
func (h *harness) deleteLoop(ctx context.Context, stop <-chan struct{}) {
	t := time.NewTicker(retentionEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		offs, err := h.deleteTargets(ctx, retentionKeep)
		if err != nil || len(offs) == 0 {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := h.adm.DeleteRecords(dctx, offs)
		cancel()
		if err == nil && resp.Error() == nil {
			h.res.DeleteCalls++
		}
	}
}
