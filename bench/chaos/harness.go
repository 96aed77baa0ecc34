package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-io/tributary/internal/clustertest"
)

// The workload. Two topics: MainTopic takes most of the load, fsyncs every
// append and is consumed by the group; RetentionTopic rolls a segment every
// few hundred records and has its oldest segments deleted all the time.
const (
	MainTopic      = "chaos-main"
	RetentionTopic = "chaos-retention"
	Group          = "chaos-group"

	mainPartitions      = 6
	retentionPartitions = 2
	mainProducers       = 2
	// producerRate is each producer's records per second.
	producerRate = 300
	members      = 3

	// mainSegmentBytes makes MainTopic roll too, now and then.
	mainSegmentBytes = 256 << 10
	// retentionSegmentBytes and retentionBytes: RetentionTopic rolls every
	// ~130 records and keeps about four segments.
	retentionSegmentBytes = 16 << 10
	retentionBytes        = 64 << 10
	// retentionKeep is how many records of each RetentionTopic partition
	// the harness's own deleter keeps: it moves the log start offset up
	// with DeleteRecords, which deletes the segments below, between the
	// broker's own retention checks.
	retentionKeep  = 400
	retentionEvery = 150 * time.Millisecond
	// brokerRetentionCheck is log.retention.check.interval.ms (for a
	// binary that has the setting: -chaos.bin may name an older one).
	brokerRetentionCheck = 100 * time.Millisecond

	// sessionTimeout is the members' session timeout: a killed member's
	// partitions move on after it. The broker's minimum is set below it.
	sessionTimeout = time.Second
	// commitEvery: members commit lazily so that a kill leaves processed,
	// uncommitted records to process again.
	commitEvery = 300 * time.Millisecond

	// burstRecords are produced at once just before an "append" kill.
	burstRecords = 200
	// deleteKeep is how many records of each RetentionTopic partition a
	// "delete" kill's DeleteRecords keeps: several segments go at once.
	deleteKeep = 50
	// watchEvery is how often the segment files are looked at while the
	// harness waits for the moment to kill.
	watchEvery = 200 * time.Microsecond
	// watchTimeout bounds the wait for an append or a deletion.
	watchTimeout = time.Second
	// rollWait bounds the wait for a roll before a "roll" kill.
	rollWait = 3 * time.Second
	// maxDowntime bounds the pause between a kill and the restart.
	maxDowntime = 300 * time.Millisecond
	// startTimeout bounds one broker start, recovery included.
	startTimeout = 60 * time.Second
	// drainTimeout bounds the producers' wait for their last acks, and
	// the group's for processing everything, after the last cycle.
	drainTimeout = 60 * time.Second
	// memberStopTimeout bounds a member's clean exit.
	memberStopTimeout = 20 * time.Second
	// readTimeout bounds reading the topics back.
	readTimeout = 60 * time.Second
)

// Kill modes: where in the broker's work the SIGKILL lands. Cycles take
// them in turn.
const (
	// KillAppend: right after a burst of produces to MainTopic, whose
	// flush.messages=1 fsyncs every append: mid-append, mid-fsync.
	KillAppend = "append"
	// KillRoll: the moment a new segment file of RetentionTopic appears:
	// mid-roll (index trimming, producer snapshot, new files).
	KillRoll = "roll"
	// KillDelete: right after DeleteRecords on RetentionTopic was sent:
	// mid-deletion of segments and the checkpoint that records it.
	KillDelete = "delete"
)

var killModes = []string{KillAppend, KillRoll, KillDelete}

// Config is one crash loop.
type Config struct {
	// Bin is the tributary binary (BuildBinary).
	Bin string
	// WorkDir holds the data dir and the broker's log.
	WorkDir string
	// Cycles is how many times the broker is killed and restarted.
	Cycles int
	// Load is the mean time the broker runs between two kills; each
	// cycle draws uniformly from [Load/2, 3*Load/2].
	Load time.Duration
	// Modes are the kill modes cycles take in turn (nil: all of
	// KillAppend, KillRoll, KillDelete).
	Modes []string
	// Seed drives every random choice of the harness (timing stays the
	// machine's).
	Seed uint64
	// MemberExe and MemberArgs are the program re-run as a consumer
	// child; it must call ConsumerMain when IsConsumerChild.
	MemberExe  string
	MemberArgs []string
	// Logf reports progress; nil is quiet.
	Logf func(format string, args ...any)
}

// Result is what a crash loop did and found.
type Result struct {
	Seed          uint64
	Cycles        int // broker kills and restarts completed
	Acked         int // records acknowledged, both topics
	Lost          int // acknowledged and not in the log
	Duplicated    int // extra copies of records in the log
	UnackedInLog  int // records in the log whose produce failed or was not answered
	Deleted       int // acknowledged, then deleted below the log start (RetentionTopic)
	Failed        int // produce calls that failed
	Processed     int // records processed by the group, repeats included
	Redelivered   int
	Unprocessed   int
	Runs          int // times a member started on a partition
	ConsumerKills int
	DeleteCalls   int // DeleteRecords calls that moved a log start
	// InFlightOnDisk counts, over the kills, the records found in the
	// segment files right after a kill that were not acknowledged then.
	InFlightOnDisk int
	// KeptOnDisk is how many records found in the segment files after a
	// kill were checked to be at the same place in the end.
	KeptOnDisk  int
	Recoveries  []time.Duration
	MaxRecovery time.Duration // from process start to the first Metadata answer
	// MaxOpen is the longest data dir open (recovery) the broker itself
	// reported, part of MaxRecovery.
	MaxOpen time.Duration
	Elapsed time.Duration
	Offline string // the offline check, in a few words
	// Violations lists every guarantee found broken, by kind.
	Violations []string
}

// Summary is the one-line result.
func (r *Result) Summary() string {
	verdict := "OK"
	if len(r.Violations) > 0 {
		verdict = fmt.Sprintf("FAILED (%d kinds of violation)", len(r.Violations))
	}
	return fmt.Sprintf("chaos: %s: cycles=%d acked=%d lost=%d duplicated=%d max_recovery=%v | max_data_dir_open=%v unacked_in_log=%d on_disk_unacked_at_kill=%d on_disk_at_kill_kept=%d deleted_by_retention=%d processed=%d redelivered=%d unprocessed=%d consumer_kills=%d runs=%d offline=%q elapsed=%v seed=%d",
		verdict, r.Cycles, r.Acked, r.Lost, r.Duplicated, r.MaxRecovery.Round(time.Millisecond), r.MaxOpen.Round(time.Millisecond),
		r.UnackedInLog, r.InFlightOnDisk, r.KeptOnDisk, r.Deleted, r.Processed, r.Redelivered, r.Unprocessed, r.ConsumerKills, r.Runs,
		r.Offline, r.Elapsed.Round(100*time.Millisecond), r.Seed)
}

// harness is the state of one Run.
type harness struct {
	began   time.Time
	cfg     Config
	rng     *rand.Rand
	logf    func(string, ...any)
	res     *Result
	v       *violations
	broker  *Broker
	dataDir string
	adm     *kadm.Client
	admCl   *kgo.Client

	// lastOpen is what the broker said its last data dir open took.
	lastOpen time.Duration
	// brokerRetention: the broker deletes by retention.bytes itself.
	brokerRetention bool
	// afterKills are the segment files as each kill left them, read
	// before the restart: the checker's earlier readings.
	afterKills []clustertest.Replica

	mcfg    memberConfig
	glog    *GroupLog
	members []*member // live ones
	all     []*member
}

// Run runs the crash loop described by cfg and checks the guarantees. The
// error is for a loop that could not run to the end (a broker that did not
// restart is also a violation); broken guarantees are in Result.Violations.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	began := time.Now()
	h := &harness{
		began: began,
		cfg:   cfg,
		rng:   rand.New(rand.NewPCG(cfg.Seed, 0x63686173)),
		logf:  cfg.Logf,
		res:   &Result{Seed: cfg.Seed},
		v:     newViolations(),
		glog:  NewGroupLog(),
	}
	if h.logf == nil {
		h.logf = func(string, ...any) {}
	}
	err := h.run(ctx)
	h.res.Elapsed = time.Since(began)
	h.res.Violations = h.v.list()
	return h.res, err
}

func (h *harness) run(ctx context.Context) error {
	cfg := h.cfg
	if cfg.Cycles < 1 || cfg.Load <= 0 {
		return fmt.Errorf("chaos: need cycles >= 1 and a positive load time, got %d and %v", cfg.Cycles, cfg.Load)
	}
	for _, m := range cfg.Modes {
		if !slices.Contains(killModes, m) {
			return fmt.Errorf("chaos: unknown kill mode %q (want one of %v)", m, killModes)
		}
	}
	addr, err := FreeAddr(h.rng)
	if err != nil {
		return err
	}
	h.dataDir = filepath.Join(cfg.WorkDir, "data")
	logPath := filepath.Join(cfg.WorkDir, "broker.log")
	brokerLog, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("chaos: broker log: %w", err)
	}
	defer brokerLog.Close()
	args := []string{
		"--group.min.session.timeout.ms", "500",
		"--group.initial.rebalance.delay.ms", "0",
		"--offsets.topic.num.partitions", "10",
		"--auto.create.topics.enable", "false",
	}
	// The broker's own retention deletes segments under the kills too
	// (unless -chaos.bin names a binary older than the setting).
	if ok, err := BinaryHasSetting(ctx, cfg.Bin, "log.retention.check.interval.ms"); err != nil {
		return err
	} else if ok {
		args = append(args, "--log.retention.check.interval.ms", strconv.Itoa(int(brokerRetentionCheck.Milliseconds())))
		h.brokerRetention = true
	}
	h.broker = &Broker{Bin: cfg.Bin, DataDir: h.dataDir, Addr: addr, Args: args, Stderr: brokerLog}
	defer h.broker.Kill()
	h.logf("broker %s on %s, data dir %s, log %s, seed %d", cfg.Bin, addr, h.dataDir, logPath, cfg.Seed)

	if err := h.start(ctx, "first start"); err != nil {
		return err
	}
	h.admCl, err = kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryBackoffFn(fastBackoff), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		return err
	}
	defer h.admCl.Close()
	h.adm = kadm.NewClient(h.admCl)
	if err := h.createTopics(ctx); err != nil {
		return err
	}

	// Every child and loop is bounded by the whole run's budget.
	budget := time.Duration(cfg.Cycles)*(cfg.Load*3/2+rollWait+maxDowntime+startTimeout/4) + 5*time.Minute
	runCtx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()

	h.mcfg = memberConfig{exe: cfg.MemberExe, args: cfg.MemberArgs, addr: addr, group: Group, topic: MainTopic,
		session: sessionTimeout, commitEvery: commitEvery, deadline: time.Now().Add(budget)}
	defer func() {
		for _, m := range h.members {
			m.kill()
		}
	}()
	for range members {
		if err := h.spawn(); err != nil {
			return err
		}
	}

	var prods []*Producer
	for i := range mainProducers + 1 {
		topic := MainTopic
		if i == mainProducers {
			topic = RetentionTopic
		}
		p, err := NewProducer(i, addr, topic, producerRate, cfg.Seed)
		if err != nil {
			return err
		}
		prods = append(prods, p)
	}
	stopProducing := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range prods {
		wg.Go(func() { p.Run(runCtx, stopProducing, drainTimeout) })
	}
	stopDeleting := make(chan struct{})
	var delWG sync.WaitGroup
	delWG.Go(func() { h.deleteLoop(runCtx, stopDeleting) })
	stopLoad := sync.OnceFunc(func() {
		close(stopProducing)
		close(stopDeleting)
		wg.Wait()
		delWG.Wait()
	})
	defer stopLoad()

	for c := 1; c <= cfg.Cycles; c++ {
		if err := h.cycle(runCtx, c, prods); err != nil {
			cancel() // the producers give up waiting for a broker that is gone
			return err
		}
	}

	// Load keeps going a moment on the last incarnation, then stops; the
	// producers wait for their last acknowledgements.
	sleep(runCtx, cfg.Load/2)
	stopLoad()
	if h.brokerRetention {
		// Let the broker's retention settle before the log is listed
		// and read: nothing is written any more.
		sleep(runCtx, 5*brokerRetentionCheck)
	}
	var reports []ProducerReport
	for _, p := range prods {
		r := p.Report()
		reports = append(reports, r)
		h.res.Failed += len(r.Failed)
		if len(r.Failed) > 0 {
			h.logf("producer %d (%s): %d acked, %d failed: %s", r.ID, r.Topic, len(r.Acks), len(r.Failed), topErrors(r.FailErrs, 3))
		} else {
			h.logf("producer %d (%s): %d acked", r.ID, r.Topic, len(r.Acks))
		}
	}
	return h.finish(runCtx, reports)
}

// start starts the broker and records its recovery time; a broker that
// does not come back is a violation.
func (h *harness) start(ctx context.Context, what string) error {
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	took, err := h.broker.Start(sctx)
	if err != nil {
		h.v.add("broker did not restart", "%s: %v", what, err)
		return err
	}
	// The log line passes through a pipe: it may lag the answer a bit.
	for i := 0; i < 20 && h.broker.OpenTime() < 0; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	h.lastOpen = h.broker.OpenTime()
	h.res.MaxOpen = max(h.res.MaxOpen, h.lastOpen)
	h.note("broker started: %s, answering after %v (data dir open took %v)", what, took, h.lastOpen)
	h.res.Recoveries = append(h.res.Recoveries, took)
	h.res.MaxRecovery = max(h.res.MaxRecovery, took)
	return nil
}

func (h *harness) createTopics(ctx context.Context) error {
	str := func(n int64) *string { s := strconv.FormatInt(n, 10); return &s }
	mainCfg := map[string]*string{
		"flush.messages": str(1),
		"segment.bytes":  str(mainSegmentBytes),
		"retention.ms":   str(-1),
	}
	retCfg := map[string]*string{
		"segment.bytes":   str(retentionSegmentBytes),
		"retention.bytes": str(retentionBytes),
		"retention.ms":    str(-1),
	}
	for _, t := range []struct {
		name  string
		parts int32
		cfg   map[string]*string
	}{{MainTopic, mainPartitions, mainCfg}, {RetentionTopic, retentionPartitions, retCfg}} {
		resp, err := h.adm.CreateTopic(ctx, t.parts, 1, t.cfg, t.name)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return fmt.Errorf("chaos: create topic %s: %w", t.name, err)
		}
	}
	return nil
}

// note records what the harness did among the members' events.
func (h *harness) note(format string, args ...any) {
	h.glog.add(event{member: -1, kind: evNote, line: fmt.Sprintf(format, args...)})
}

// spawn starts a new member.
func (h *harness) spawn() error {
	m, err := startMember(h.mcfg, len(h.all), h.glog)
	if err != nil {
		return err
	}
	h.note("started member %d", m.idx)
	h.members = append(h.members, m)
	h.all = append(h.all, m)
	return nil
}

// killMember kills a random member with SIGKILL and starts another.
func (h *harness) killMember() (string, error) {
	i := h.rng.IntN(len(h.members))
	m := h.members[i]
	m.kill()
	h.note("killed member %d", m.idx)
	h.members = slices.Delete(h.members, i, i+1)
	h.res.ConsumerKills++
	return fmt.Sprintf("killed member %d", m.idx), h.spawn()
}

// cycle runs load for a while (killing a member on the way), kills the
// broker in this cycle's mode and restarts it.
func (h *harness) cycle(ctx context.Context, c int, prods []*Producer) error {
	load := h.cfg.Load/2 + time.Duration(h.rng.Int64N(int64(h.cfg.Load)+1))
	began := time.Now()
	sleep(ctx, time.Duration(float64(load)*(0.2+0.6*h.rng.Float64())))
	killed, err := h.killMember()
	if err != nil {
		return err
	}
	sleep(ctx, time.Until(began.Add(load)))
	if err := ctx.Err(); err != nil {
		return err
	}

	modes := h.cfg.Modes
	if len(modes) == 0 {
		modes = killModes
	}
	mode := modes[(c-1)%len(modes)]
	detail := ""
	switch mode {
	case KillAppend:
		detail = h.watchAppend(ctx, func() { prods[h.rng.IntN(mainProducers)].Burst(ctx, burstRecords) })
	case KillRoll:
		detail = h.watchSegments(ctx, RetentionTopic, retentionPartitions, rollWait, appeared)
	case KillDelete:
		detail = h.deleteNow(ctx)
		detail += h.watchSegments(ctx, RetentionTopic, retentionPartitions, watchTimeout, vanished)
	}
	pid := h.broker.PID()
	if err := h.broker.Kill(); err != nil {
		return err
	}
	h.note("kill -9 broker (%s%s)", mode, detail)
	detail += h.scanAfterKill(c, prods)
	// Every other cycle a member dies too while the broker is down.
	if c%2 == 0 {
		k, err := h.killMember()
		if err != nil {
			return err
		}
		killed += ", " + k + " while the broker was down"
	}
	sleep(ctx, time.Duration(h.rng.Int64N(int64(maxDowntime))))
	acked := 0
	for _, p := range prods {
		acked += p.Acked()
	}
	if err := h.start(ctx, fmt.Sprintf("cycle %d", c)); err != nil {
		return err
	}
	h.res.Cycles = c
	h.logf("cycle %d/%d: %s; kill -9 broker pid %d after %v (%s%s); %d acked so far; restarted and answering in %v (data dir open: %v)",
		c, h.cfg.Cycles, killed, pid, load.Round(time.Millisecond), mode, detail, acked,
		h.res.Recoveries[len(h.res.Recoveries)-1].Round(time.Millisecond), h.lastOpen.Round(time.Millisecond))
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
