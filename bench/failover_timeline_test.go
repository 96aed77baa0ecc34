package bench_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// The timeline of one kill (BenchmarkFailover, quorum-leader kills and
// -failover.timeline), seen from a survivor's etcd member: a watch of the
// metadata, which a member serves from what it applied, so every event is
// seen when that member committed it; and etcd's leader, by Status polled
// every foStatusPoll on each survivor's member.

const (
	// foStatusPoll is the pause between two Status polls of a survivor.
	foStatusPoll = 5 * time.Millisecond
	// foLogLines bounds the log lines of each survivor in a timeline.
	foLogLines = 60
	// foMetadataRoot is the brokers' etcd key root (cluster.DefaultKeyRoot).
	foMetadataRoot = "/tributary/"
)

// foTimeline records, from before a kill until stop, what the survivors'
// etcd members saw.
type foTimeline struct {
	victim    int
	topic     string
	partition int32
	fenceKey  string // suffix of the victim's registration key
	partKey   string // suffix of the measured partition's state key
	survivors []foSurvivor
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	mu sync.Mutex
	// Guarded by mu: the first time each was seen (zero: not seen),
	// the last partition state written, how many were.
	leader                   time.Time
	leaderNode               string
	fence, part              time.Time
	partFirst, partLast      time.Time
	parts                    int
	ctrlFirst                time.Time
	ctrlEvents               []string
	produces                 []foProduce // the raw probe's
	raftLeaderBefore, victID uint64
}

// foSurvivor is a node that is not killed: its etcd client and where its
// log stood before the kill.
type foSurvivor struct {
	id      int
	cli     *clientv3.Client
	ep      string
	logPath string
	logFrom int64
}

// watchTimeline starts watching the survivors of k's kill; the caller
// stops it with stop (report does).
func (fs *foScale) watchTimeline(ctx context.Context, k foKill) (*foTimeline, error) {
	tl := &foTimeline{victim: k.victim, topic: k.topic, partition: k.partition, fenceKey: "/brokers/" + strconv.Itoa(k.victim),
		partKey: "/partitions/" + k.topic + "/" + strconv.Itoa(int(k.partition))}
	var victimEP string
	for _, n := range fs.c.Nodes {
		ep := "http://" + n.EtcdClientAddr()
		if n.ID == k.victim {
			victimEP = ep
			continue
		}
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			tl.closeClients()
			return nil, fmt.Errorf("timeline: etcd client of node %d: %w", n.ID, err)
		}
		var size int64
		if st, err := os.Stat(n.LogPath); err == nil {
			size = st.Size()
		}
		tl.survivors = append(tl.survivors, foSurvivor{id: n.ID, cli: cli, ep: ep, logPath: n.LogPath, logFrom: size})
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	st, err := tl.survivors[0].cli.Status(sctx, victimEP)
	cancel()
	if err != nil {
		tl.closeClients()
		return nil, fmt.Errorf("timeline: status of node %d's member: %w", k.victim, err)
	}
	tl.victID = st.Header.MemberId
	tl.raftLeaderBefore = st.Leader
	// Not WithRequireLeader: the watch must stay open while the quorum
	// has no leader.
	wctx, cancel := context.WithCancel(context.Background())
	tl.cancel = cancel
	wch := tl.survivors[0].cli.Watch(wctx, foMetadataRoot, clientv3.WithPrefix())
	tl.wg.Add(1)
	go func() {
		defer tl.wg.Done()
		for resp := range wch {
			now := time.Now()
			tl.mu.Lock()
			for _, ev := range resp.Events {
				key := string(ev.Kv.Key)
				switch {
				case strings.HasSuffix(key, tl.fenceKey) && ev.Type == clientv3.EventTypeDelete:
					if tl.fence.IsZero() {
						tl.fence = now
					}
				case strings.Contains(key, "/partitions/"):
					if tl.partFirst.IsZero() {
						tl.partFirst = now
					}
					tl.partLast = now
					tl.parts++
					if strings.HasSuffix(key, tl.partKey) && tl.part.IsZero() {
						tl.part = now
					}
				case strings.Contains(key, "/controller"):
					if tl.ctrlFirst.IsZero() {
						tl.ctrlFirst = now
					}
					tl.ctrlEvents = append(tl.ctrlEvents, fmt.Sprintf("%s %s@%v", ev.Type, key[strings.LastIndex(key, "/")+1:], now.UnixMilli()))
				}
			}
			tl.mu.Unlock()
		}
	}()
	for _, sv := range tl.survivors {
		tl.wg.Add(1)
		go func() {
			defer tl.wg.Done()
			for wctx.Err() == nil {
				sctx, cancel := context.WithTimeout(wctx, 200*time.Millisecond)
				st, err := sv.cli.Status(sctx, sv.ep)
				cancel()
				if err == nil && st.Leader != 0 && st.Leader != tl.victID {
					tl.mu.Lock()
					if tl.leader.IsZero() {
						tl.leader, tl.leaderNode = time.Now(), fmt.Sprintf("%x (seen by node %d)", st.Leader, sv.id)
					}
					tl.mu.Unlock()
					return
				}
				select {
				case <-wctx.Done():
				case <-time.After(foStatusPoll):
				}
			}
		}()
	}
	return tl, nil
}

// foProduce is one Produce of the raw probe.
type foProduce struct {
	leader  int32
	sent    time.Time
	took    time.Duration
	outcome string
}

// produced records one Produce of the raw probe; safe on nil (a kill
// without a timeline).
func (tl *foTimeline) produced(leader int32, sent time.Time, err error) {
	if tl == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = err.Error()
		if len(outcome) > 60 {
			outcome = outcome[:60]
		}
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.produces = append(tl.produces, foProduce{leader, sent, time.Since(sent), outcome})
}

func (tl *foTimeline) closeClients() {
	for _, sv := range tl.survivors {
		sv.cli.Close()
	}
}

// stop ends the watch and the polls; safe on nil.
func (tl *foTimeline) stop() {
	if tl == nil {
		return
	}
	tl.cancel()
	tl.closeClients()
	tl.wg.Wait()
}

// report stops tl and says what it saw, in ms from t0, with each
// survivor's log lines from t0 until end (plus a little).
func (tl *foTimeline) report(t0, end time.Time) string {
	tl.stop()
	tl.mu.Lock()
	defer tl.mu.Unlock()
	at := func(t time.Time) string {
		if t.IsZero() {
			return "not seen"
		}
		return strconv.FormatInt(t.Sub(t0).Milliseconds(), 10) + " ms"
	}
	var b strings.Builder
	leaderWas := "not the raft leader"
	if tl.raftLeaderBefore == tl.victID {
		leaderWas = "the raft leader"
	}
	fmt.Fprintf(&b, "\tvictim's member %x was %s\n", tl.victID, leaderWas)
	fmt.Fprintf(&b, "\tetcd leader elected   %s, member %s\n", at(tl.leader), tl.leaderNode)
	fmt.Fprintf(&b, "\tfence committed       %s (brokers/%d deleted)\n", at(tl.fence), tl.victim)
	fmt.Fprintf(&b, "\tpartition states      first %s, last %s (%d written)\n", at(tl.partFirst), at(tl.partLast), tl.parts)
	fmt.Fprintf(&b, "\tmeasured partition    %s\n", at(tl.part))
	if !tl.ctrlFirst.IsZero() {
		fmt.Fprintf(&b, "\tcontroller keys       first %s: %s\n", at(tl.ctrlFirst), strings.Join(tl.ctrlEvents, ", "))
	}
	fmt.Fprintf(&b, "\tfirst acks=all produce %s\n", at(end))
	for _, p := range tl.produces {
		fmt.Fprintf(&b, "\t\tproduce to %d sent %s: %s after %d ms\n", p.leader, at(p.sent), p.outcome, p.took.Milliseconds())
	}
	// Per-partition lines only for the measured partition: there are
	// thousands of the others.
	own := "topic=" + tl.topic + " partition=" + strconv.Itoa(int(tl.partition)) + " "
	keep := func(line string) bool {
		for _, m := range []string{`msg="partition leader changed"`, `msg="partition ISR changed"`, `msg="replica became leader"`, `msg="replica became follower"`} {
			if strings.Contains(line, m) {
				return strings.Contains(line, own)
			}
		}
		return true
	}
	for _, sv := range tl.survivors {
		lines := logWindow(sv.logPath, sv.logFrom, t0, end.Add(100*time.Millisecond), keep)
		fmt.Fprintf(&b, "\tnode %d log:\n", sv.id)
		for _, l := range lines {
			fmt.Fprintf(&b, "\t\t%s\n", l)
		}
	}
	return b.String()
}

// logWindow reads a node's log from offset and returns its lines stamped
// (slog's time=) between from and to, each prefixed by its ms since from,
// at most foLogLines.
func logWindow(path string, offset int64, from, to time.Time, keep func(string) bool) []string {
	f, err := os.Open(path)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return []string{err.Error()}
	}
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "time=")
		if !ok {
			continue
		}
		stamp, _, _ := strings.Cut(rest, " ")
		t, err := time.Parse(time.RFC3339Nano, stamp)
		if err != nil || t.Before(from) || t.After(to) || !keep(line) {
			continue
		}
		if len(out) == foLogLines {
			out = append(out, "...")
			break
		}
		out = append(out, fmt.Sprintf("%5d ms %s", t.Sub(from).Milliseconds(), line[len("time=")+len(stamp)+1:]))
	}
	return out
}
