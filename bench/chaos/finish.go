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

	"github.com/tributary-io/tributary/internal/clustertest"
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

	online := partLogs{}
	for _, t := range []string{MainTopic, RetentionTopic} {
		rctx, cancel := context.WithTimeout(ctx, readTimeout)
		err := readOnline(rctx, h.broker.Addr, t, starts[t], ends[t], online)
		cancel()
		if err != nil {
			return err
		}
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

	events, bad := h.glog.snapshot()
	if err := writeEvents(filepath.Join(h.cfg.WorkDir, "members.log"), events, h.began); err != nil {
		h.logf("members.log: %v", err)
	}
	for _, b := range bad {
		h.v.add("bad member output", "%s", b)
	}
	history := producerEvents(reports)
	group, gs := groupEvents(events, MainTopic)
	history = append(history, group...)
	// The online and the offline reading are two replicas of one node:
	// they must be equal (Divergent), and the segment files after each
	// kill earlier readings of it.
	res := clustertest.Check(history, []clustertest.Replica{
		{Name: "the online read", Logs: online},
		{Name: "the data dir", Logs: offline.Logs},
	}, clustertest.CheckOptions{
		Seed:           h.cfg.Seed,
		ConsumedAll:    true,
		ConsumedTopics: []string{MainTopic},
		Retention:      []string{RetentionTopic},
		Earlier:        h.afterKills,
		MaxExamples:    maxExamples,
	})
	h.v.addResult(res)
	h.res.Acked, h.res.Lost, h.res.Duplicated = res.Acked, res.Counts[clustertest.Lost], res.Counts[clustertest.Duplicated]
	h.res.UnackedInLog, h.res.Deleted, h.res.KeptOnDisk = res.Indeterminate, res.Deleted, res.EarlierRecords
	h.res.Processed, h.res.Redelivered, h.res.Unprocessed, h.res.Runs = res.Polled, res.Repolled, res.Counts[clustertest.Unconsumed], res.Starts
	for _, t := range []string{MainTopic, RetentionTopic} {
		n, ranges := topicRecords(online, t)
		h.logf("%s: %d records in [start, end) %s", t, n, ranges)
	}
	h.logf("%s", res)
	h.logf("group: %d members over the run, %d killed; %d records processed, %d again; %d runs; %d commits acknowledged, %d unanswered; %d DeleteRecords calls",
		len(h.all), h.res.ConsumerKills, res.Polled, res.Repolled, res.Starts, gs.Commits, gs.Uncertain, h.res.DeleteCalls)
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

// topicRecords counts the records of topic in logs, and lists each
// partition's [start, end).
func topicRecords(logs partLogs, topic string) (int, string) {
	n := 0
	var parts []string
	for tp, pl := range logs {
		if tp.Topic == topic {
			n += len(pl.Records)
			parts = append(parts, fmt.Sprintf("%d:[%d,%d)", tp.Partition, pl.Start, pl.End))
		}
	}
	slices.Sort(parts)
	return n, strings.Join(parts, " ")
}
