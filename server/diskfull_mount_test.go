//go:build linux

package server

// Disk full, end to end: a broker whose data dir sits on a small file
// system of its own (a tmpfs, and a loop-mounted ext4 image, whose ENOSPC
// and block reservations differ) is produced to until the kernel says
// ENOSPC. Producers must get KAFKA_STORAGE_ERROR and nothing else; the
// broker keeps serving metadata and every acknowledged record; group
// commits fail cleanly; once space is freed producing resumes at the next
// offset, and the data dir verifies clean offline and after a restart.
//
// Mounting needs root and Linux; elsewhere the tests skip.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"

	tlog "github.com/tributary-io/tributary/log"
)

const (
	// dfSlack is the room left on the file system after the filler file:
	// what the broker fills with batches until ENOSPC.
	dfSlack = 1 << 20
	// dfRecordBytes and dfBatchRecords shape the produced batches: about
	// 16 KiB each, uncompressed.
	dfRecordBytes  = 1000
	dfBatchRecords = 16
	// dfSegmentBytes is the events topic's segment.bytes: a roll (and new
	// preallocated indexes) every few batches.
	dfSegmentBytes = 64 << 10
)

// dfMountPoint is an empty directory for a test mount; the mount it gets
// is undone when the test ends, after the broker (registered later) is
// closed.
func dfMountPoint(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("disk-full test skipped: mounting a small file system needs root")
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	return mnt
}

func dfMount(t *testing.T, mnt string, args ...string) {
	t.Helper()
	if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
		t.Skipf("disk-full test skipped: mount %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	// Registered after the mount point's TempDir, so it runs before the
	// removal; registered before the broker, so it runs after its Close.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
			exec.Command("umount", "-l", mnt).Run()
		}
	})
}

func dfMountTmpfs(t *testing.T) string {
	mnt := dfMountPoint(t)
	dfMount(t, mnt, "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt)
	return mnt
}

// dfMountExt4 mounts a 32 MiB ext4 image through a loop device: delayed
// allocation, a journal and unwritten extents behind fallocate, unlike
// tmpfs. No blocks are reserved for root (-m 0), so what statfs calls
// available is what the broker, running as root, can write.
func dfMountExt4(t *testing.T) string {
	mnt := dfMountPoint(t)
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Skip("disk-full test skipped: no mkfs.ext4")
	}
	img := filepath.Join(t.TempDir(), "ext4.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 32<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", "-b", "4096",
		"-E", "lazy_itable_init=0,lazy_journal_init=0", img).CombinedOutput(); err != nil {
		t.Skipf("disk-full test skipped: mkfs.ext4: %v: %s", err, bytes.TrimSpace(out))
	}
	dfMount(t, mnt, "-t", "ext4", "-o", "loop", img, mnt)
	return mnt
}

// dfUsable is the file system's available bytes, as statfs reports them.
func dfUsable(t *testing.T, dir string) int64 {
	t.Helper()
	_, usable, err := diskSpace(dir)
	if err != nil {
		t.Fatal(err)
	}
	return usable
}

// dfFill allocates size bytes of real blocks in a new file at path.
func dfFill(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		t.Fatalf("filler of %d bytes: %v", size, err)
	}
}

// dfFillUp allocates blocks at the end of a new file at path until the
// file system has none left for it, page by page.
func dfFillUp(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var off int64
	for chunk := int64(1 << 20); chunk >= 4096; chunk /= 2 {
		for {
			if err := unix.Fallocate(int(f.Fd()), 0, off, chunk); err != nil {
				if !errors.Is(err, unix.ENOSPC) {
					t.Fatalf("topping up the filler: %v", err)
				}
				break
			}
			off += chunk
		}
	}
	return off
}

// dfProduced is the producer's record of what the broker acknowledged.
type dfProduced struct {
	acked map[string]map[int32][]string // topic → partition → value at each offset
	seq   int
}

func (p *dfProduced) value(topic string, part int32) string {
	p.seq++
	s := fmt.Sprintf("%s/%d/%06d/", topic, part, p.seq)
	return s + strings.Repeat("x", max(dfRecordBytes-len(s), 0))
}

// dfProducer produces for the disk-full tests, each partition's records
// of a produce call as exactly one batch.
//
// That matters because a full disk refuses a batch by its size: one that
// still fits in the partly written last block of a segment (which a
// bigger batch's refusal leaves free) is rightly taken. kgo batches what
// it has buffered when it drains, which depends on timing: with its
// default 10 ms linger a loaded machine can send a round of 16 records
// as 8 + 8, and even with manual flushing the drain loop of one Flush can
// outlive it and send what the next round has buffered so far.
// So each produce call has a client of its own that flushes manually
// (nothing drains before Flush), and flushes only once every record has
// been assigned to its partition's batch (a new client does that once it
// has learnt the topic's partitions).
type dfProducer struct {
	b    *testBroker
	opts []kgo.Opt
}

// dfProducerMaxRecords bounds the records of one produce call: the
// channel that the partitioned hook feeds holds that many, so the hook
// never blocks.
const dfProducerMaxRecords = 256

// dfPartitionedHook gets a value per record the client has assigned to a
// partition.
type dfPartitionedHook chan<- struct{}

func (h dfPartitionedHook) OnProduceRecordPartitioned(*kgo.Record, int32) { h <- struct{}{} }

// newDFProducer produces to b, to explicit partitions, uncompressed, with
// opts.
func newDFProducer(b *testBroker, opts ...kgo.Opt) *dfProducer {
	return &dfProducer{b: b, opts: opts}
}

// client is a new client of the producer's, and the channel its
// partitioned hook feeds. The caller closes it.
func (d *dfProducer) client(t *testing.T) (*kgo.Client, <-chan struct{}) {
	t.Helper()
	partitioned := make(chan struct{}, dfProducerMaxRecords)
	opts := append([]kgo.Opt{kgo.SeedBrokers(d.b.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ManualFlushing(),
		kgo.WithHooks(dfPartitionedHook(partitioned))}, d.opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	return cl, partitioned
}

// produce sends n records to each of parts of topic, each partition's as
// one batch, and records the acknowledged ones, checking that each lands
// exactly at the partition's next offset and that each batch was taken or
// refused whole. It returns how many records failed, each with
// KAFKA_STORAGE_ERROR (any other error fails the test).
func (p *dfProduced) produce(t *testing.T, ctx context.Context, prod *dfProducer, topic string, n int, parts ...int32) (failed int) {
	t.Helper()
	if n*len(parts) > dfProducerMaxRecords {
		t.Fatalf("produce of %d records: at most %d at once", n*len(parts), dfProducerMaxRecords)
	}
	cl, partitioned := prod.client(t)
	defer cl.Close()
	var (
		mu      sync.Mutex
		res     []kgo.ProduceResult
		wg      sync.WaitGroup
		settled = make(chan struct{}, n*len(parts))
	)
	wg.Add(n * len(parts))
	for _, part := range parts {
		for range n {
			r := &kgo.Record{Topic: topic, Partition: part, Value: []byte(p.value(topic, part))}
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				mu.Lock()
				res = append(res, kgo.ProduceResult{Record: r, Err: err})
				mu.Unlock()
				settled <- struct{}{}
				wg.Done()
			})
		}
	}
	// Before Flush a record is either assigned to its partition or has
	// failed without ever being (its promise ran): once each has done
	// one or the other, every partition's records are one batch.
	for range n * len(parts) {
		select {
		case <-partitioned:
		case <-settled:
		case <-ctx.Done():
			t.Fatalf("produce to %s: records not assigned to their partitions: %v", topic, ctx.Err())
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("produce to %s: flush: %v", topic, err)
	}
	wg.Wait()
	if p.acked[topic] == nil {
		p.acked[topic] = map[int32][]string{}
	}
	failedIn := map[int32]int{}
	for _, r := range res {
		if r.Err != nil {
			if !errors.Is(r.Err, kerr.KafkaStorageError) {
				t.Fatalf("produce to %s/%d: %v, want KAFKA_STORAGE_ERROR or success", topic, r.Record.Partition, r.Err)
			}
			failed++
			failedIn[r.Record.Partition]++
			continue
		}
		got := p.acked[topic][r.Record.Partition]
		if r.Record.Offset != int64(len(got)) {
			t.Fatalf("%s/%d: record acknowledged at offset %d, want %d (gap or reuse)", topic, r.Record.Partition, r.Record.Offset, len(got))
		}
		p.acked[topic][r.Record.Partition] = append(got, string(r.Record.Value))
	}
	for part, f := range failedIn {
		if f != n {
			t.Fatalf("%s/%d: %d of the %d records of one batch refused: a batch is taken or refused whole", topic, part, f, n)
		}
	}
	return failed
}

// fillUp produces batches to both partitions of events until both refuse
// a whole round with KAFKA_STORAGE_ERROR, then checks that they keep
// refusing.
func (p *dfProduced) fillUp(t *testing.T, ctx context.Context, prod *dfProducer, mnt string) {
	t.Helper()
	before := [2]int{len(p.acked["events"][0]), len(p.acked["events"][1])}
	deadline := time.Now().Add(60 * time.Second)
	rounds := 0
	for {
		rounds++
		if rounds > 1000 || time.Now().After(deadline) {
			t.Fatalf("no KAFKA_STORAGE_ERROR after %d rounds (%d records acknowledged); %d bytes usable",
				rounds, len(p.acked["events"][0])+len(p.acked["events"][1]), dfUsable(t, mnt))
		}
		if p.produce(t, ctx, prod, "events", dfBatchRecords, 0, 1) == 2*dfBatchRecords {
			break // both partitions refused a whole round
		}
	}
	added := [2]int{len(p.acked["events"][0]) - before[0], len(p.acked["events"][1]) - before[1]}
	t.Logf("disk full after %d rounds: %d+%d records acknowledged, %d bytes usable", rounds, added[0], added[1], dfUsable(t, mnt))
	if added[0] < 10*dfBatchRecords || added[1] < 10*dfBatchRecords {
		t.Fatalf("only %d+%d records fit in %d bytes", added[0], added[1], dfSlack)
	}
	for range 3 {
		if n := p.produce(t, ctx, prod, "events", dfBatchRecords, 0, 1); n != 2*dfBatchRecords {
			t.Fatalf("%d of %d records failed on a full disk", n, 2*dfBatchRecords)
		}
	}
}

// check reads every partition with acknowledged records from offset 0 on
// a fresh consumer and wants exactly those records, in order, at offsets
// 0, 1, 2, ...; and nothing past them (the high watermark is theirs).
func (p *dfProduced) check(t *testing.T, b *testBroker, what string) {
	t.Helper()
	ctx := testContext(t)
	adm := kadm.NewClient(b.client())
	for topic, parts := range p.acked {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatalf("%s: list end offsets of %s: %v", what, topic, err)
		}
		for part, want := range parts {
			end, ok := ends.Lookup(topic, part)
			if !ok || end.Err != nil || end.Offset != int64(len(want)) {
				t.Fatalf("%s: %s/%d high watermark %+v, want %d", what, topic, part, end, len(want))
			}
			cl := b.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {part: kgo.NewOffset().AtStart()}}),
				kgo.FetchMaxWait(100*time.Millisecond))
			for _, r := range consumeN(t, cl, len(want)) {
				if r.Offset >= int64(len(want)) {
					t.Fatalf("%s: %s/%d: record at offset %d past the %d acknowledged", what, topic, part, r.Offset, len(want))
				}
				if string(r.Value) != want[r.Offset] {
					t.Fatalf("%s: %s/%d offset %d holds %.30q, want %.30q", what, topic, part, r.Offset, r.Value, want[r.Offset])
				}
			}
			cl.Close()
		}
	}
}

// dfScrape returns the value of the metric name whose labels include
// every pair of labels (a gauge's or a counter's), and whether it exists.
func dfScrape(t *testing.T, b *testBroker, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := b.srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue metrics
				}
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue(), true
			}
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// dfCommit commits offset for partition 0 of each of topics in group,
// each with metaBytes of metadata, in one bare OffsetCommit (generation
// -1: a group without members, as kadm commits) sent to the broker
// directly, so that no client retry hides the code. It returns the code,
// which must be the same for every partition: a commit is stored whole
// or not at all.
func dfCommit(t *testing.T, ctx context.Context, cl *kgo.Client, group string, offset int64, metaBytes int, topics ...string) int16 {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group = group
	req.Generation = -1
	meta := strings.Repeat("m", metaBytes)
	for _, topic := range topics {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset = offset
		rp.LeaderEpoch = -1
		rp.Metadata = &meta
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
	if err != nil {
		t.Fatalf("offset commit: %v", err)
	}
	code := resp.Topics[0].Partitions[0].ErrorCode
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != code {
				t.Fatalf("offset commit answered %v for %s and %v for %s", kerr.ErrorForCode(code), topics[0], kerr.ErrorForCode(rp.ErrorCode), rt.Topic)
			}
		}
	}
	return code
}

// dfCommitted is the group's committed offset of topic/0 (-1: none).
func dfCommitted(t *testing.T, ctx context.Context, adm *kadm.Client, group, topic string) int64 {
	t.Helper()
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	o, ok := offs.Lookup(topic, 0)
	if !ok {
		return -1
	}
	if o.Err != nil {
		t.Fatalf("committed offset of %s in %s: %v", topic, group, o.Err)
	}
	return o.At
}

// dfCleanGroups is the number of groups with one commit each, which the
// cleaner of __consumer_offsets keeps.
const dfCleanGroups = 40

func dfCheckCleanGroups(t *testing.T, ctx context.Context, adm *kadm.Client) {
	t.Helper()
	for i := range dfCleanGroups {
		if got := dfCommitted(t, ctx, adm, fmt.Sprintf("df-clean-%02d", i), "other"); got != int64(i) {
			t.Fatalf("group df-clean-%02d: committed offset %d, want %d", i, got, i)
		}
	}
}

// dfVerifyOffline checks every partition of the data dir with the code
// behind `tributary inspect --verify`: no corrupt or half-written batch,
// indexes consistent with the log, checkpoints agreeing with it. It
// returns each partition's segment count.
func dfVerifyOffline(t *testing.T, dataDir string) map[string]int {
	t.Helper()
	dd, err := tlog.ListPartitions(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range dd.Problems {
		t.Errorf("data dir: %v", p)
	}
	for _, w := range dd.Warnings {
		// A topic refused for want of space leaves nothing behind.
		t.Errorf("data dir warning: %v", w)
	}
	segs := map[string]int{}
	for _, pd := range dd.Partitions {
		r, err := tlog.VerifyPartition(pd.Dir, tlog.VerifyOptions{IndexIntervalBytes: pd.Config.IndexIntervalBytes})
		if err != nil {
			t.Fatalf("verify %s: %v", pd.Dir, err)
		}
		for _, p := range r.Problems {
			t.Errorf("verify %s-%d: %v", pd.Topic, pd.Partition, p)
		}
		for _, w := range r.Warnings {
			t.Errorf("verify %s-%d: warning: %v", pd.Topic, pd.Partition, w)
		}
		segs[fmt.Sprintf("%s-%d", pd.Topic, pd.Partition)] = len(r.Segments)
	}
	return segs
}

// dfFileSystems are the small file systems the tests run on.
var dfFileSystems = []struct {
	name  string
	mount func(*testing.T) string
}{
	{"tmpfs", dfMountTmpfs},
	{"ext4", dfMountExt4},
}

func TestDiskFullMounted(t *testing.T) {
	for _, fs := range dfFileSystems {
		t.Run(fs.name, func(t *testing.T) {
			testDiskFullMounted(t, fs.mount(t))
		})
	}
}

// TestDiskFullRestart: a broker stopped while its disk is full starts
// again on the still-full disk, serves every acknowledged record, refuses
// produces cleanly, and takes them again at the next offset once space is
// freed. Close gives back the unused preallocated index space of the
// active segments; in the "no-room" case something else takes it before
// the restart, so that not even the indexes and checkpoints that Open
// writes fit.
func TestDiskFullRestart(t *testing.T) {
	for _, fs := range dfFileSystems {
		for _, noRoom := range []bool{false, true} {
			name := fs.name
			if noRoom {
				name += "/no-room"
			}
			t.Run(name, func(t *testing.T) {
				testDiskFullRestart(t, fs.mount(t), noRoom)
			})
		}
	}
}

func testDiskFullRestart(t *testing.T, mnt string, noRoom bool) {
	start := time.Now()
	dataDir := filepath.Join(mnt, "data")
	b := startBrokerIn(t, dataDir, noAutoCreate)
	ctx := testContext(t)
	segBytes, flush := fmt.Sprint(dfSegmentBytes), "1"
	createTopics(t, kadm.NewClient(b.client()), 2, map[string]*string{"segment.bytes": &segBytes, "flush.messages": &flush}, "events")
	prodOpts := []kgo.Opt{kgo.DisableIdempotentWrite(), kgo.RecordRetries(0)}
	prod := newDFProducer(b, prodOpts...)
	p := &dfProduced{acked: map[string]map[int32][]string{}}
	fillers := []string{filepath.Join(mnt, "filler")}
	dfFill(t, fillers[0], dfUsable(t, mnt)-dfSlack)
	p.fillUp(t, ctx, prod, mnt)
	fillers = append(fillers, filepath.Join(mnt, "filler-2"))
	dfFillUp(t, fillers[1])

	// Stop on the full disk. Close may report a producer snapshot it had
	// no room for: that costs a longer scan at the next open, not data.
	if err := b.srv.Close(); err != nil {
		t.Errorf("server close: %v", err)
	}
	t.Logf("manager close on a full disk: %v", b.mgr.Close())
	b.srv, b.mgr = nil, nil
	t.Logf("close gave back %d bytes", dfUsable(t, mnt))
	if noRoom {
		fillers = append(fillers, filepath.Join(mnt, "filler-3"))
		dfFillUp(t, fillers[2])
	}
	b = startBrokerIn(t, dataDir, noAutoCreate)
	p.check(t, b, "restart on a full disk")
	prod = newDFProducer(b, prodOpts...)
	for range 3 {
		if n := p.produce(t, ctx, prod, "events", dfBatchRecords, 0, 1); n != 2*dfBatchRecords {
			t.Fatalf("%d of %d records failed on a full disk after restart", n, 2*dfBatchRecords)
		}
	}
	for _, f := range fillers {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		if n := p.produce(t, ctx, prod, "events", dfBatchRecords, 0, 1); n != 0 {
			t.Fatalf("%d records failed after space came back", n)
		}
	}
	p.check(t, b, "space back")
	// What the test says of a full disk holds for whole rounds: every
	// batch stored is one round's records for its partition.
	for part := range int32(2) {
		for _, h := range storedBatches(t, b, "events", part) {
			if n := h.NextOffset() - h.BaseOffset; n != dfBatchRecords {
				t.Fatalf("events/%d: a batch of %d records at offset %d, want %d (one per round)", part, n, h.BaseOffset, dfBatchRecords)
			}
		}
	}
	b.stop()
	t.Logf("segments: %v", dfVerifyOffline(t, dataDir))
	t.Logf("done in %v", time.Since(start))
}

func testDiskFullMounted(t *testing.T, mnt string) {
	start := time.Now()
	dataDir := filepath.Join(mnt, "data")
	opts := []brokerOpt{noAutoCreate, func(c *Config) {
		c.Groups.OffsetsTopicPartitions = 1
		c.Groups.OffsetsTopicSegmentBytes = 16 << 10
		c.Groups.InitialRebalanceDelay = 0
	}}
	b := startBrokerIn(t, dataDir, opts...)
	ctx := testContext(t)
	adm := kadm.NewClient(b.client())
	segBytes := fmt.Sprint(dfSegmentBytes)
	createTopics(t, adm, 2, map[string]*string{"segment.bytes": &segBytes}, "events")
	createTopics(t, adm, 1, nil, "other")

	// A producer that reports every failure at once: no idempotence (whose
	// sequences would forbid giving up on a batch) and no retries.
	prod := newDFProducer(b, kgo.DisableIdempotentWrite(), kgo.RecordRetries(0))
	cl := b.client() // for the group commits
	p := &dfProduced{acked: map[string]map[int32][]string{}}
	if n := p.produce(t, ctx, prod, "other", 10, 0); n != 0 {
		t.Fatalf("%d records failed on an empty disk", n)
	}
	const group = "df-group"
	// Commits that the cleaner must keep (each group's only one, with
	// 4000 bytes of metadata, about 10 segments' worth), then enough
	// commits of one group to seal them: the cleaner has output to write
	// while the disk is full.
	for i := range dfCleanGroups {
		if code := dfCommit(t, ctx, cl, fmt.Sprintf("df-clean-%02d", i), int64(i), 4000, "other"); code != 0 {
			t.Fatalf("commit %d: %v", i, kerr.ErrorForCode(code))
		}
	}
	for i := range 500 {
		if code := dfCommit(t, ctx, cl, group, int64(i%10), 0, "other"); code != 0 {
			t.Fatalf("commit %d: %v", i, kerr.ErrorForCode(code))
		}
	}
	if code := dfCommit(t, ctx, cl, group, 3, 0, "other", "events"); code != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(code))
	}

	// Fill all but dfSlack with a filler file, then produce into the rest.
	filler := filepath.Join(mnt, "filler")
	dfFill(t, filler, dfUsable(t, mnt)-dfSlack)
	// A reserve, freed later for the cleaner.
	reserve := filepath.Join(mnt, "reserve")
	dfFill(t, reserve, 16<<10)
	var st unix.Statfs_t
	if err := unix.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	t.Logf("file system type %#x; the filler leaves %d bytes usable", st.Type, dfUsable(t, mnt))
	p.fillUp(t, ctx, prod, mnt)
	t.Logf("disk full after %v", time.Since(start))
	usable, ok := dfScrape(t, b, "tributary_data_dir_usable_bytes", nil)
	if !ok || usable > 256<<10 {
		t.Errorf("tributary_data_dir_usable_bytes = %v (present %v) on a full disk, want near zero", usable, ok)
	}
	if n, _ := dfScrape(t, b, "tributary_request_errors_total", map[string]string{"api": "Produce", "error": "KAFKA_STORAGE_ERROR"}); n < 2 {
		t.Errorf("tributary_request_errors_total{api=Produce,error=KAFKA_STORAGE_ERROR} = %v", n)
	}

	// Take the last free blocks too: now no batch fits anywhere, whatever
	// the roll state of each partition.
	topUp := filepath.Join(mnt, "filler-2")
	t.Logf("topped up with %d bytes", dfFillUp(t, topUp))

	// The broker still serves.
	if _, err := adm.ApiVersions(ctx); err != nil {
		t.Fatalf("ApiVersions on a full disk: %v", err)
	}
	md, err := adm.Metadata(ctx, "events", "other")
	if err != nil {
		t.Fatalf("Metadata on a full disk: %v", err)
	}
	if err := md.Topics.Error(); err != nil || len(md.Topics["events"].Partitions) != 2 {
		t.Fatalf("Metadata on a full disk: %v, %+v", err, md.Topics)
	}
	p.check(t, b, "disk full")
	// Both ways an append needs space fail cleanly: a batch appended to
	// the active segment (other has 1 GiB segments), and one larger than
	// events' segment.bytes, which needs a roll and new indexes. (A batch
	// needs new blocks: a tiny one may still fit in the last, partly
	// written block of a segment, and rightly succeed.)
	for _, probe := range []struct {
		topic   string
		records int
	}{{"other", dfBatchRecords}, {"events", dfSegmentBytes/dfRecordBytes + 1}} {
		if n := p.produce(t, ctx, prod, probe.topic, probe.records, 0); n != probe.records {
			t.Fatalf("%d of %d records to %s acknowledged on a full disk", probe.records-n, probe.records, probe.topic)
		}
	}

	// An idempotent producer with Kafka's defaults (unlimited retries)
	// keeps retrying through the full disk and gets in once there is room.
	idem := b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	idemValue := "idempotent, sent while the disk was full"
	idemDone := make(chan *kgo.Record, 1)
	idem.Produce(ctx, &kgo.Record{Topic: "other", Partition: 0, Value: []byte(idemValue)}, func(r *kgo.Record, err error) {
		if err != nil {
			t.Errorf("idempotent produce: %v", err)
		}
		idemDone <- r
	})

	// Group commits fail with a code the client retries, and leave the
	// committed offsets as they were. (Here too a commit small enough for
	// the last block of __consumer_offsets' segment rightly succeeds:
	// metadata makes this one need new blocks.)
	switch code := dfCommit(t, ctx, cl, group, 5, 4000, "other", "events"); code {
	case kerr.NotCoordinator.Code: // Kafka's answer to a storage error on the offsets topic
	default:
		t.Fatalf("commit on a full disk: %v, want NOT_COORDINATOR", kerr.ErrorForCode(code))
	}
	if got := dfCommitted(t, ctx, adm, group, "other"); got != 3 {
		t.Fatalf("committed offset %d after a failed commit, want 3", got)
	}
	// The cleaner of __consumer_offsets cannot write its checkpoint, and
	// with a little room, not all of its output (the df-clean groups'
	// commits): it must give up without harm either way.
	b.mgr.RunCompaction()
	if err := os.Remove(reserve); err != nil {
		t.Fatal(err)
	}
	b.mgr.RunCompaction()
	t.Logf("refilled %d bytes after the cleaner", dfFillUp(t, filepath.Join(mnt, "filler-3")))
	if got := dfCommitted(t, ctx, adm, group, "other"); got != 3 {
		t.Fatalf("committed offset %d after compaction on a full disk, want 3", got)
	}
	// Topics cannot be created, and no half of them remains.
	for _, topic := range []string{"late", "never"} {
		resp, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"segment.bytes": &segBytes}, topic)
		if err == nil {
			err = resp.Err
		}
		if !errors.Is(err, kerr.KafkaStorageError) {
			t.Errorf("CreateTopic %s on a full disk: %v (%s), want KAFKA_STORAGE_ERROR", topic, err, resp.ErrMessage)
		}
	}

	// Space comes back.
	for _, f := range []string{filler, topUp, filepath.Join(mnt, "filler-3")} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case r := <-idemDone:
		if r.Offset != int64(len(p.acked["other"][0])) {
			t.Fatalf("idempotent record at offset %d after space came back, want %d", r.Offset, len(p.acked["other"][0]))
		}
		p.acked["other"][0] = append(p.acked["other"][0], idemValue)
	case <-time.After(20 * time.Second):
		t.Fatal("the idempotent producer did not get in within 20s of space coming back")
	}
	for range 3 {
		if n := p.produce(t, ctx, prod, "events", dfBatchRecords, 0, 1); n != 0 {
			t.Fatalf("%d records failed after space came back", n)
		}
	}
	if n := p.produce(t, ctx, prod, "other", 5, 0); n != 0 {
		t.Fatalf("%d records failed after space came back", n)
	}
	if code := dfCommit(t, ctx, cl, group, 7, 4000, "other", "events"); code != 0 {
		t.Fatalf("commit after space came back: %v", kerr.ErrorForCode(code))
	}
	if got := dfCommitted(t, ctx, adm, group, "other"); got != 7 {
		t.Fatalf("committed offset %d, want 7", got)
	}
	b.mgr.RunCompaction()
	dfCheckCleanGroups(t, ctx, adm)
	if resp, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"segment.bytes": &segBytes}, "late"); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic after space came back: %v %v (%s)", err, resp.Err, resp.ErrMessage)
	}
	// A topic of many partitions takes almost no disk until it holds data
	// (indexes allocate as they fill): 8 partitions fit where 8 of the
	// old preallocated 6 MiB indexes never could.
	before := dfUsable(t, mnt)
	if resp, err := adm.CreateTopic(ctx, 8, 1, nil, "many"); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic of 8 partitions: %v %v (%s)", err, resp.Err, resp.ErrMessage)
	}
	if after := dfUsable(t, mnt); after < before-8*(64<<10) {
		t.Errorf("8 empty partitions took %d bytes, want at most 64 KiB each", before-after)
	}
	p.check(t, b, "space back")

	// Offline: nothing corrupt, torn or half-written.
	b.stop()
	segs := dfVerifyOffline(t, dataDir)
	t.Logf("segments: %v", segs)
	if segs["events-0"] < 3 || segs["events-1"] < 3 {
		t.Errorf("events rolled into %d and %d segments, want several", segs["events-0"], segs["events-1"])
	}

	// And after a restart on the same dir.
	b = startBrokerIn(t, dataDir, opts...)
	p.check(t, b, "restart")
	adm = kadm.NewClient(b.client())
	if got := dfCommitted(t, ctx, adm, group, "other"); got != 7 {
		t.Fatalf("committed offset %d after restart, want 7", got)
	}
	dfCheckCleanGroups(t, ctx, adm)
	prod = newDFProducer(b)
	if n := p.produce(t, ctx, prod, "events", 1, 0, 1); n != 0 {
		t.Fatalf("%d records failed after restart", n)
	}
	p.check(t, b, "produce after restart")
	t.Logf("done in %v", time.Since(start))
}

// TestErrorCodeNoSpace: a full disk met outside a log append (topic
// metadata, a new partition's directory or files) is KAFKA_STORAGE_ERROR
// too, not UNKNOWN_SERVER_ERROR.
func TestErrorCodeNoSpace(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT} {
		err := fmt.Errorf("server: create topic %q: %w", "t", &os.PathError{Op: "write", Path: "meta/topics/x.json.tmp", Err: errno})
		if got := errorCode(err); got != kerr.KafkaStorageError.Code {
			t.Errorf("errorCode(%v) = %v, want KAFKA_STORAGE_ERROR", err, kerr.ErrorForCode(got))
		}
	}
	if got := errorCode(&os.PathError{Op: "write", Path: "x", Err: syscall.EIO}); got != kerr.UnknownServerError.Code {
		t.Errorf("errorCode(EIO) = %v, want UNKNOWN_SERVER_ERROR", kerr.ErrorForCode(got))
	}
}
