package chaos

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// The end of a run: the group catches up, everything is read back online
// and offline, and every guarantee is checked.

// finish waits for the group to process everything, stops the members,
// reads both topics back online, stops the broker cleanly, reads the data
// dir offline and checks every guarantee.
func (h *harness) finish(ctx context.Context, reports []ProducerReport) error {
	ends, starts, err := h.offsets(ctx)
	if err != nil {
		return err
	}
	// The group catches up on MainTopic.
	deadline := time.Now().Add(drainTimeout)
	for {
		through := h.glog.ProcessedThrough()
		behind := []string{}
		for p, e := range ends[MainTopic] {
			if through[p] < e {
				behind = append(behind, fmt.Sprintf("%d: %d of %d", p, through[p], e))
			}
		}
		if len(behind) == 0 {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			slices.Sort(behind)
			h.v.add("group stuck", "after %v the group has not processed partitions %s; %s", drainTimeout, strings.Join(behind, ", "), h.describeGroup(ctx))
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// All leave at once: each takes a moment to commit and leave.
	for _, m := range h.members {
		m.stdin.Close()
	}
	for _, m := range h.members {
		if err := m.stop(memberStopTimeout); err != nil {
			h.v.add("member did not stop cleanly", "%v", err)
		}
	}
	h.members = nil

	online := map[string]topicLog{}
	for _, t := range []string{MainTopic, RetentionTopic} {
		rctx, cancel := context.WithTimeout(ctx, readTimeout)
		tl, err := readOnline(rctx, h.broker.Addr, t, starts[t], ends[t])
		cancel()
		if err != nil {
			return err
		}
		online[t] = tl
	}
	if err := h.broker.Stop(); err != nil {
		h.v.add("unclean shutdown", "%v", err)
	}
	offline, err := readOffline(h.dataDir, MainTopic, RetentionTopic)
	if err != nil {
		return err
	}
	h.res.Offline = fmt.Sprintf("%d partitions verified, %d problems, %d warnings", offline.Partitions, len(offline.Problems), offline.Warnings)
	for _, p := range offline.Problems {
		h.v.add("offline verify", "%s", p)
	}

	byTopic := map[string][]ProducerReport{}
	for _, r := range reports {
		byTopic[r.Topic] = append(byTopic[r.Topic], r)
	}
	for _, t := range []string{MainTopic, RetentionTopic} {
		deletable := t == RetentionTopic
		st, where := checkLog(h.v, t+" (online)", online[t], byTopic[t], deletable)
		_, _ = checkLog(h.v, t+" (offline)", offline.Topics[t], byTopic[t], deletable)
		h.res.KeptOnDisk += h.onDisk[t].checkKept(h.v, t, online[t], where, deletable)
		sameLog(h.v, "the online read", online[t], "the data dir", offline.Topics[t])
		h.res.Acked += st.Acked
		h.res.Lost += st.Lost
		h.res.Duplicated += st.Duplicated
		h.res.UnackedInLog += st.UnackedInLog
		h.res.Deleted += st.Deleted
		h.logf("%s: %d records in [start, end) %s; %d acked, %d lost, %d duplicated, %d unacked in the log, %d deleted",
			t, st.Records, offsetRanges(online[t]), st.Acked, st.Lost, st.Duplicated, st.UnackedInLog, st.Deleted)
	}
	events, bad := h.glog.snapshot()
	if err := writeEvents(filepath.Join(h.cfg.WorkDir, "members.log"), events, h.began); err != nil {
		h.logf("members.log: %v", err)
	}
	for _, b := range bad {
		h.v.add("bad member output", "%s", b)
	}
	gs := checkGroup(h.v, events, online[MainTopic], byTopic[MainTopic])
	h.res.Processed, h.res.Redelivered, h.res.Unprocessed, h.res.Runs = gs.Processed, gs.Redelivered, gs.Unprocessed, gs.Runs
	h.logf("group: %d members over the run, %d killed; %d records processed, %d again; %d runs; %d commits acknowledged, %d unanswered; %d DeleteRecords calls",
		len(h.all), h.res.ConsumerKills, gs.Processed, gs.Redelivered, gs.Runs, gs.Commits, gs.Uncertain, h.res.DeleteCalls)
	return nil
}

// writeEvents writes every member event, one a line with the time since
// began, for a post-mortem of a failed run.
func writeEvents(path string, events []event, began time.Time) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, e := range events {
		who := "harness"
		if e.kind != evNote {
			who = fmt.Sprintf("member %d", e.member)
		}
		line := e.line
		if line == "" {
			continue // a further partition of the line before
		}
		if e.kind == evExit {
			line = "exit"
		}
		fmt.Fprintf(w, "%9.3f %s: %s\n", e.atTime.Sub(began).Seconds(), who, line)
	}
	return errors.Join(w.Flush(), f.Close())
}

// offsets lists the end offsets of both topics, and their start offsets,
// retrying while the broker settles.
func (h *harness) offsets(ctx context.Context) (ends, starts map[string]map[int32]int64, err error) {
	deadline := time.Now().Add(drainTimeout)
	for {
		ends, starts, err = h.listOffsets(ctx)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return ends, starts, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (h *harness) listOffsets(ctx context.Context) (ends, starts map[string]map[int32]int64, err error) {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	collect := func(l kadm.ListedOffsets, lerr error) (map[string]map[int32]int64, error) {
		if lerr != nil {
			return nil, lerr
		}
		if err := l.Error(); err != nil {
			return nil, err
		}
		out := map[string]map[int32]int64{MainTopic: {}, RetentionTopic: {}}
		l.Each(func(o kadm.ListedOffset) { out[o.Topic][o.Partition] = o.Offset })
		if len(out[MainTopic]) != mainPartitions || len(out[RetentionTopic]) != retentionPartitions {
			return nil, fmt.Errorf("chaos: listed offsets of %d and %d partitions", len(out[MainTopic]), len(out[RetentionTopic]))
		}
		return out, nil
	}
	if ends, err = collect(h.adm.ListEndOffsets(lctx, MainTopic, RetentionTopic)); err != nil {
		return nil, nil, fmt.Errorf("chaos: end offsets: %w", err)
	}
	if starts, err = collect(h.adm.ListStartOffsets(lctx, MainTopic, RetentionTopic)); err != nil {
		return nil, nil, fmt.Errorf("chaos: start offsets: %w", err)
	}
	return ends, starts, nil
}

func (h *harness) describeGroup(ctx context.Context) string {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	dg, err := h.adm.DescribeGroups(dctx, Group)
	if err != nil {
		return "describe group: " + err.Error()
	}
	g, ok := dg[Group]
	if !ok {
		return "group not described"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "group %s: state %s, %d members", Group, g.State, len(g.Members))
	for _, m := range g.Members {
		fmt.Fprintf(&b, "; %s", m.ClientID)
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				fmt.Fprintf(&b, " %v", t.Partitions)
			}
		}
	}
	return b.String()
}

func offsetRanges(tl topicLog) string {
	var parts []string
	for p, pl := range tl {
		parts = append(parts, fmt.Sprintf("%d:[%d,%d)", p, pl.Start, pl.End))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}
