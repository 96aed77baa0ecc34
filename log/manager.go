package log

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tributary-io/tributary/segment"
)

const (
	metaDir         = "meta"
	topicsDir       = "topics"
	maxTopicNameLen = 249
	// MaxPartitions bounds a topic's partition count (a sanity limit against
	// requests that would create millions of directories).
	MaxPartitions = 10000

	DefaultRetentionCheckInterval = 5 * time.Minute  // log.retention.check.interval.ms
	DefaultCheckpointInterval     = time.Minute      // log.flush.offset.checkpoint.interval.ms
	DefaultFlushSchedulerInterval = time.Second      // how often flush.ms is checked
	DefaultCleanerBackoff         = 15 * time.Second // log.cleaner.backoff.ms: how often compacted logs are checked
	defaultDeletedDirSuffix       = ".deleting"
	topicMetaSuffix               = ".json"
)

var (
	// ErrTopicExists: CreateTopic on a name already taken (TOPIC_ALREADY_EXISTS).
	ErrTopicExists = errors.New("log: topic already exists")
	// ErrUnknownTopic: no such topic (UNKNOWN_TOPIC_OR_PARTITION).
	ErrUnknownTopic = errors.New("log: unknown topic")
	// ErrInvalidTopic: a name Kafka would refuse (INVALID_TOPIC_EXCEPTION).
	ErrInvalidTopic = errors.New("log: invalid topic name")
	// ErrInvalidPartitions: a bad partition count (INVALID_PARTITIONS).
	ErrInvalidPartitions = errors.New("log: invalid partition count")
)

// TopicID is Kafka's 16-byte topic UUID.
type TopicID [16]byte

func (id TopicID) String() string { return hex.EncodeToString(id[:]) }

// Topic is a topic's metadata and its partition logs: an immutable
// snapshot. Changes (AddPartitions, AlterTopicConfig, HostPartitions,
// RemovePartitions) publish a new Topic; callers holding an old one keep a
// consistent, if stale, view.
type Topic struct {
	Name      string
	ID        TopicID
	Overrides map[string]string // topic-level configs by Kafka name
	// Partitions has one entry per partition of the topic (its length is
	// the partition count): partition p's log, or nil where this data dir
	// hosts no replica of p (a broker of a cluster hosts only the
	// partitions assigned to it, see CreateTopicHosting). A single
	// broker's topics have every log.
	Partitions []*Log
}

// PartitionLog returns partition p's log: nil when the topic has no
// partition p or this data dir hosts no replica of it.
func (t *Topic) PartitionLog(p int32) *Log {
	if p < 0 || int(p) >= len(t.Partitions) {
		return nil
	}
	return t.Partitions[p]
}

// Hosted returns the partitions this data dir holds a log of, ascending.
func (t *Topic) Hosted() []int32 {
	out := make([]int32, 0, len(t.Partitions))
	for p, l := range t.Partitions {
		if l != nil {
			out = append(out, int32(p))
		}
	}
	return out
}

// Options configures a Manager.
type Options struct {
	// Defaults are the broker-level defaults topic overrides apply to; the
	// zero value means DefaultConfig().
	Defaults *Config
	// RetentionCheckInterval, CheckpointInterval and FlushSchedulerInterval
	// pace the background work; zero means the Default* constants.
	RetentionCheckInterval time.Duration
	CheckpointInterval     time.Duration
	FlushSchedulerInterval time.Duration
	// CleanerBackoff (Kafka's log.cleaner.backoff.ms) is how often the
	// log cleaner looks for compacted logs to clean; zero means
	// DefaultCleanerBackoff.
	CleanerBackoff time.Duration
	// IOWorkers bounds how many partitions are opened, created or closed
	// at once; zero means DefaultIOWorkers (or four per CPU, if more).
	IOWorkers int
	// MappedSegments bounds how many sealed segments stay memory-mapped
	// (three mappings each: the .log and both indexes); the least recently
	// read are unmapped and mapped again when read. Zero means
	// segment.DefaultCacheSegments.
	MappedSegments int
	// OpenFiles bounds how many partitions' active segments hold their
	// .log's file descriptor (sealed segments hold none): those of the
	// least recently written partitions are closed, and opened again at
	// their next write, so that partitions alone never exhaust the file
	// limit. Zero means half the process's RLIMIT_NOFILE (see
	// DefaultOpenFilesShare); negative means no bound.
	OpenFiles int
	// ReplicatedLeadership: the partitions' leadership is the replication
	// layer's, which calls BecomeLeader (or follows) for each. Without it
	// (a single broker) every partition the Manager opens or creates
	// leads at once, at epoch 0 (or the latest its epoch cache knows), as
	// a single broker always has.
	ReplicatedLeadership bool
	// ProducerIDBlocks, if set, is where AllocateProducerID takes its
	// producer IDs from: blocks [first, last] that no other broker of the
	// cluster is given (cluster.EtcdStore.ProducerIDBlocks), instead of
	// meta/producer-ids, which counts for this data dir alone. It is
	// called from a goroutine of the Manager, one call at a time, and
	// must return within a bounded time (Close waits for a call under
	// way). Nil: meta/producer-ids, as a single broker needs.
	ProducerIDBlocks func() (first, last int64, err error)
	Logger           *slog.Logger
}

// Manager owns a data dir: its lock, the topics' metadata, the producer ID
// allocator, every partition's log and the background retention (which
// expires idle producers too), flush and checkpoint work, and the log
// cleaner of compacted topics. Close stops all of it.
type Manager struct {
	dir      string
	opts     Options
	defaults Config
	lock     *dirLock
	logger   *slog.Logger

	// adminMu serialises topic changes (create, add partitions, alter,
	// delete) including their file I/O; taken before mu.
	adminMu sync.Mutex
	mu      sync.RWMutex      // guards topics; held only to read or swap entries
	topics  map[string]*Topic // each *Topic is an immutable snapshot

	// pidMu guards the producer ID allocator: IDs in [nextPID, pidLimit)
	// are reserved (on disk, or in a block of Options.ProducerIDBlocks)
	// and not handed out yet. The block fields are in producerid.go.
	pidMu    sync.Mutex
	nextPID  int64
	pidLimit int64
	pidBlockState

	flushObserver atomic.Pointer[func(time.Duration, error)] // see SetFlushObserver
	lostOffsets   atomic.Int64                               // see RecoveryLostOffsets

	segCache *segment.Cache // bounds the mapped sealed segments of every log
	files    *fileCache     // bounds the open active segments of every log (nil: no bound)

	stop chan struct{}
	wg   sync.WaitGroup
}

// SetFlushObserver makes every log of the Manager report each fsync's
// duration and error to f (for metrics), including logs already open. f
// must not block. Options.Defaults.FlushObserver, if set, takes precedence.
func (m *Manager) SetFlushObserver(f func(d time.Duration, err error)) {
	m.flushObserver.Store(&f)
}

func (m *Manager) observeFlush(d time.Duration, err error) {
	if f := m.flushObserver.Load(); f != nil {
		(*f)(d, err)
	}
}

// RecoveryLostOffsets is the number of offsets the recoveries of this
// Manager's logs found lost to damage (see RecoveryInfo.Lost), each
// counted once.
func (m *Manager) RecoveryLostOffsets() int64 { return m.lostOffsets.Load() }

func (m *Manager) observeRecovery(_ string, info RecoveryInfo) {
	m.lostOffsets.Add(info.LostOffsets)
}

// OpenManager locks dir (creating it if needed), opens every topic's
// partitions (recovering them after a crash) and starts the background
// retention, flush and checkpoint loop. A second Manager on the same dir, in
// this process or another, gets ErrLocked.
func OpenManager(dir string, opts Options) (*Manager, error) {
	if err := os.MkdirAll(filepath.Join(dir, metaDir, topicsDir), 0o755); err != nil {
		return nil, fmt.Errorf("log: open data dir %s: %w", dir, err)
	}
	// The meta dirs may have just been made: a topic's metadata file
	// synced into them must not vanish with them in a power loss.
	for _, d := range []string{filepath.Join(dir, metaDir), dir} {
		if err := syncMadeDirs(d); err != nil {
			return nil, fmt.Errorf("log: open data dir %s: %w", dir, err)
		}
	}
	lk, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defaults := DefaultConfig()
	if opts.Defaults != nil {
		defaults = *opts.Defaults
	}
	if err := defaults.Validate(); err != nil {
		lk.unlock()
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if defaults.Logger == nil {
		defaults.Logger = logger
	}
	m := &Manager{dir: dir, opts: opts, lock: lk, logger: logger,
		topics: map[string]*Topic{}, stop: make(chan struct{}), segCache: segment.NewCache(opts.MappedSegments)}
	openFiles := opts.OpenFiles
	if openFiles == 0 {
		openFiles = defaultOpenFiles()
	}
	m.files = newFileCache(openFiles)
	if defaults.FlushObserver == nil {
		// Late-bound: the metrics that want fsync times are usually
		// created after the data dir is open (SetFlushObserver).
		defaults.FlushObserver = m.observeFlush
	}
	if defaults.RecoveryObserver == nil {
		defaults.RecoveryObserver = m.observeRecovery
	}
	m.defaults = defaults
	clean, err := m.takeCleanShutdown()
	if err != nil {
		lk.unlock()
		return nil, err
	}
	if err := m.load(clean); err != nil {
		m.abandonLogs()
		lk.unlock()
		return nil, err
	}
	if opts.ProducerIDBlocks == nil {
		// A cluster's producer IDs come from its blocks, fetched when
		// the first is needed: nothing to load.
		if err := m.loadProducerIDs(); err != nil {
			m.abandonLogs()
			lk.unlock()
			return nil, err
		}
	}
	m.wg.Add(2)
	go m.run()
	go m.runCleaner()
	return m, nil
}

func (m *Manager) load(clean bool) error {
	// Leftovers of topic deletions interrupted by a crash.
	ents, err := os.ReadDir(m.dir)
	if err != nil {
		return fmt.Errorf("log: open data dir %s: %w", m.dir, err)
	}
	for _, e := range ents {
		if e.IsDir() && strings.HasSuffix(e.Name(), defaultDeletedDirSuffix) {
			os.RemoveAll(filepath.Join(m.dir, e.Name()))
		}
	}
	metas, err := os.ReadDir(filepath.Join(m.dir, metaDir, topicsDir))
	if err != nil {
		return fmt.Errorf("log: read topic metadata: %w", err)
	}
	// Every hosted partition of every topic is opened by one pool of
	// workers.
	var topics []*Topic
	var hosted [][]int32
	var dirs []string
	var cfgs []*Config
	sparse := map[string]*topicMeta{} // topics listing their hosted partitions
	for _, e := range metas {
		if !strings.HasSuffix(e.Name(), topicMetaSuffix) {
			continue
		}
		tm, err := readTopicMeta(filepath.Join(m.dir, metaDir, topicsDir, e.Name()))
		if err != nil {
			return err
		}
		id, _ := hex.DecodeString(tm.ID) // checked by readTopicMeta
		t := &Topic{Name: tm.Name, Overrides: tm.Configs, Partitions: make([]*Log, tm.Partitions)}
		copy(t.ID[:], id)
		cfg, err := m.defaults.With(tm.Configs)
		if err != nil {
			return fmt.Errorf("log: topic %s: %w", tm.Name, err)
		}
		ps := tm.hostedPartitions()
		topics, hosted = append(topics, t), append(hosted, ps)
		for _, p := range ps {
			dirs, cfgs = append(dirs, m.partitionDir(tm.Name, int(p))), append(cfgs, &cfg)
		}
		if tm.sparse() {
			sparse[tm.Name] = &tm
		}
	}
	m.removeUnhosted(ents, sparse)
	logs, err := m.openLogs(dirs, cfgs, &managedOpen{dirClean: clean, cache: m.segCache, files: m.files})
	if err != nil {
		return err
	}
	// Every log recovered (all of them after a crash; after a clean stop,
	// any whose files were damaged since) is made durable at once.
	var recovered []*Log
	for _, l := range logs {
		if !l.recoveryInfo.Clean {
			recovered = append(recovered, l)
		}
	}
	if len(recovered) > 0 {
		if err := m.markDurable(recovered); err != nil {
			for _, l := range logs {
				l.Close()
			}
			return err
		}
	}
	for i, t := range topics {
		for _, p := range hosted[i] {
			t.Partitions[p], logs = logs[0], logs[1:]
		}
		m.topics[t.Name] = t
	}
	return nil
}

// createLogs creates the given partitions of topic, in parallel. On any
// failure nothing of them is left: every partition's directory goes, that
// of the one that failed too (Open may have made it before failing).
func (m *Manager) createLogs(topic string, partitions []int32, cfg Config) ([]*Log, error) {
	dirs := make([]string, 0, len(partitions))
	cfgs := make([]*Config, 0, len(partitions))
	for _, p := range partitions {
		dir := m.partitionDir(topic, int(p))
		os.RemoveAll(dir) // a stale dir of an earlier topic of the same name, or attempt
		dirs, cfgs = append(dirs, dir), append(cfgs, &cfg)
	}
	logs, err := m.openLogs(dirs, cfgs, &managedOpen{cache: m.segCache, files: m.files})
	if err == nil {
		// One fsync of the data dir for every new partition dir, before
		// any is served: a record acknowledged as synced
		// (flush.messages=1) must not be lost with its dir's name.
		if err = syncMadeDirs(m.dir); err != nil {
			err = m.storageErr(err)
			for _, l := range logs {
				l.Close()
			}
		}
	}
	if err != nil {
		for _, dir := range dirs {
			os.RemoveAll(dir)
		}
		return nil, err
	}
	return logs, nil
}

func (m *Manager) partitionDir(topic string, p int) string {
	return filepath.Join(m.dir, topic+"-"+strconv.Itoa(p))
}

// Dir is the data dir.
func (m *Manager) Dir() string { return m.dir }

// Defaults returns the broker-level default config.
func (m *Manager) Defaults() Config { return m.defaults }

// RetentionCheckInterval is how often retention runs
// (log.retention.check.interval.ms).
func (m *Manager) RetentionCheckInterval() time.Duration {
	return orDefault(m.opts.RetentionCheckInterval, DefaultRetentionCheckInterval)
}

// ValidateTopicName applies Kafka's rules: 1..249 chars of [a-zA-Z0-9._-],
// not "." or "..".
func ValidateTopicName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > maxTopicNameLen {
		return fmt.Errorf("%w: %q", ErrInvalidTopic, name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q contains %q", ErrInvalidTopic, name, c)
		}
	}
	return nil
}

// CreateTopic creates a topic with partitions partitions and the given
// config overrides (Kafka names), durably: the metadata is written and
// fsynced before the partitions are created. The slow part (files, fsyncs)
// runs without blocking lookups of other topics.
func (m *Manager) CreateTopic(name string, partitions int, overrides map[string]string) (*Topic, error) {
	var id TopicID
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("log: topic id: %w", err)
	}
	return m.createTopic(name, id, partitions, nil, overrides)
}

// CreateTopicWithID is CreateTopic with the topic ID given: a cluster's
// topic has one ID on every broker, the one its metadata holds. The zero
// ID is refused.
func (m *Manager) CreateTopicWithID(name string, id TopicID, partitions int, overrides map[string]string) (*Topic, error) {
	if id == (TopicID{}) {
		return nil, fmt.Errorf("%w: topic %q: the zero topic id", ErrInvalidTopic, name)
	}
	return m.createTopic(name, id, partitions, nil, overrides)
}

// CreateTopicHosting is CreateTopicWithID for a broker of a cluster, which
// hosts a replica of only some of the topic's partitions: the topic is
// known with all its partitions, and only those in hosted (any order;
// empty: none) get a log. HostPartitions and RemovePartitions change the
// hosted set later.
func (m *Manager) CreateTopicHosting(name string, id TopicID, partitions int, hosted []int32, overrides map[string]string) (*Topic, error) {
	if id == (TopicID{}) {
		return nil, fmt.Errorf("%w: topic %q: the zero topic id", ErrInvalidTopic, name)
	}
	ps, err := sortedPartitions(name, partitions, hosted)
	if err != nil {
		return nil, err
	}
	return m.createTopic(name, id, partitions, ps, overrides)
}

// createTopic creates a topic whose partitions hosted (ascending; nil:
// every one) have a log.
func (m *Manager) createTopic(name string, id TopicID, partitions int, hosted []int32, overrides map[string]string) (*Topic, error) {
	if err := ValidateTopicName(name); err != nil {
		return nil, err
	}
	if partitions < 1 || partitions > MaxPartitions {
		return nil, fmt.Errorf("%w: %d (must be 1..%d)", ErrInvalidPartitions, partitions, MaxPartitions)
	}
	cfg, err := m.defaults.With(overrides)
	if err != nil {
		return nil, err
	}
	m.adminMu.Lock()
	defer m.adminMu.Unlock()
	if _, ok := m.Topic(name); ok {
		return nil, fmt.Errorf("%w: %q", ErrTopicExists, name)
	}
	t := &Topic{Name: name, ID: id, Overrides: copyMap(overrides)}
	if err := m.writeMeta(t, partitions, hosted); err != nil {
		return nil, m.storageErr(err)
	}
	create := hosted
	if create == nil {
		create = allPartitions(partitions)
	}
	logs, err := m.createLogs(name, create, cfg)
	if err != nil {
		os.Remove(m.metaPath(t))
		return nil, err
	}
	if hosted == nil {
		t.Partitions = logs // dense: one allocation, as before
	} else {
		t.Partitions = make([]*Log, partitions)
		for i, p := range create {
			t.Partitions[p] = logs[i]
		}
	}
	m.publish(t)
	return t, nil
}

// publish makes t the topic's current snapshot. Caller holds adminMu.
func (m *Manager) publish(t *Topic) {
	m.mu.Lock()
	m.topics[t.Name] = t
	m.mu.Unlock()
}

// AddPartitions grows a topic to total partitions (Kafka's CreatePartitions),
// each new one with a log (a single broker's; a broker of a cluster hosts
// only its replicas, see HostPartitions). The new partitions exist before
// the metadata counts them, so a crash midway leaves at most unused
// directories, never a topic missing a log.
func (m *Manager) AddPartitions(name string, total int) error {
	m.adminMu.Lock()
	defer m.adminMu.Unlock()
	t, ok := m.Topic(name)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	if total <= len(t.Partitions) || total > MaxPartitions {
		return fmt.Errorf("%w: topic %q has %d partitions, asked for %d", ErrInvalidPartitions, name, len(t.Partitions), total)
	}
	cfg, err := m.defaults.With(t.Overrides)
	if err != nil {
		return err
	}
	var news []int32
	for p := len(t.Partitions); p < total; p++ {
		news = append(news, int32(p))
	}
	added, err := m.createLogs(name, news, cfg)
	if err != nil {
		return err
	}
	nt := &Topic{Name: t.Name, ID: t.ID, Overrides: t.Overrides,
		Partitions: append(append([]*Log(nil), t.Partitions...), added...)}
	return m.publishGrown(nt, added)
}

// AlterTopicConfig replaces a topic's overrides and applies them to every
// partition.
func (m *Manager) AlterTopicConfig(name string, overrides map[string]string) error {
	cfg, err := m.defaults.With(overrides)
	if err != nil {
		return err
	}
	m.adminMu.Lock()
	defer m.adminMu.Unlock()
	t, ok := m.Topic(name)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	nt := &Topic{Name: t.Name, ID: t.ID, Overrides: copyMap(overrides), Partitions: t.Partitions}
	if err := m.writeTopicMeta(nt); err != nil {
		return err
	}
	for _, l := range nt.Partitions {
		if l == nil {
			continue
		}
		c := cfg
		c.WrapFile = l.Config().WrapFile
		l.SetConfig(c)
	}
	m.publish(nt)
	return nil
}

// DeleteTopic removes a topic: its metadata first (so a crash midway leaves
// no half-topic), then its partitions' directories.
func (m *Manager) DeleteTopic(name string) error {
	m.adminMu.Lock()
	defer m.adminMu.Unlock()
	m.mu.RLock()
	t, ok := m.topics[name]
	m.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	// The topic leaves the map only once its metadata is gone: if the
	// removal fails, it is still served now and still there after a
	// restart, rather than vanishing until the next start. adminMu keeps
	// other admin operations out in between.
	if err := os.Remove(m.metaPath(t)); err != nil {
		return fmt.Errorf("log: delete topic %q: %w", name, err)
	}
	m.mu.Lock()
	delete(m.topics, name)
	m.mu.Unlock()
	if err := syncDir(filepath.Dir(m.metaPath(t))); err != nil {
		return fmt.Errorf("log: delete topic %q: %w", name, err)
	}
	return m.removeLogs(t.Partitions)
}

// Topic returns a topic by name.
func (m *Manager) Topic(name string) (*Topic, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	t, ok := m.topics[name]
	return t, ok
}

// Topics returns every topic, sorted by name.
func (m *Manager) Topics() []*Topic {
	m.mu.RLock()
	out := make([]*Topic, 0, len(m.topics))
	for _, t := range m.topics {
		out = append(out, t)
	}
	m.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Partition returns one partition's log.
func (m *Manager) Partition(topic string, partition int32) (*Log, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	t, ok := m.topics[topic]
	if !ok {
		return nil, false
	}
	l := t.PartitionLog(partition)
	return l, l != nil
}

// metaPath names a topic's metadata file by topic id, not by name: a
// 249-character name plus suffixes would pass NAME_MAX (255).
func (m *Manager) metaPath(t *Topic) string {
	return filepath.Join(m.dir, metaDir, topicsDir, t.ID.String()+topicMetaSuffix)
}

func (m *Manager) logs() []*Log {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []*Log
	for _, t := range m.topics {
		for _, l := range t.Partitions {
			if l != nil {
				out = append(out, l)
			}
		}
	}
	return out
}

// run is the background loop: retention, flush.ms and checkpoints.
func (m *Manager) run() {
	defer m.wg.Done()
	retention := orDefault(m.opts.RetentionCheckInterval, DefaultRetentionCheckInterval)
	ckpt := orDefault(m.opts.CheckpointInterval, DefaultCheckpointInterval)
	flush := orDefault(m.opts.FlushSchedulerInterval, DefaultFlushSchedulerInterval)
	rt, ct, ft := time.NewTicker(retention), time.NewTicker(ckpt), time.NewTicker(flush)
	defer rt.Stop()
	defer ct.Stop()
	defer ft.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-rt.C:
			m.RunRetention()
		case <-ct.C:
			m.checkpointAll()
		case <-ft.C:
			m.flushDue(time.Now())
		}
	}
}

// checkpointAll writes every log's checkpoint and producer snapshot that
// changed: with syncfs, made durable by one or two barriers for the data
// dir (checkpointPass); without, a pool of workers at a time, each changed
// file costing two fsyncs.
func (m *Manager) checkpointAll() {
	logs := m.logs()
	if syncFSSupported {
		m.checkpointPass(logs)
		return
	}
	parallel(len(logs), m.ioWorkers(), func(i int) error {
		if err := logs[i].Checkpoint(); err != nil && !errors.Is(err, ErrClosed) {
			m.logger.Error("log: checkpoint failed", "dir", logs[i].dir, "err", m.storageErr(err))
		}
		return nil
	})
}

// runCleaner is the log cleaner's loop, apart from run so that a long
// compaction never delays flushes and checkpoints. Close stops it between
// two batches of a pass.
func (m *Manager) runCleaner() {
	defer m.wg.Done()
	t := time.NewTicker(orDefault(m.opts.CleanerBackoff, DefaultCleanerBackoff))
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.compactDue(m.stop)
		}
	}
}

// RunCompaction runs the log cleaner now over every partition that needs
// it (Log.NeedsCompaction: cleanup.policy includes compact and the dirty
// ratio or max.compaction.lag.ms says so), as the background loop does
// every CleanerBackoff.
func (m *Manager) RunCompaction() {
	m.compactDue(nil)
}

func (m *Manager) compactDue(stop <-chan struct{}) {
	for _, l := range m.logs() {
		if stopped(stop) {
			return
		}
		if !l.NeedsCompaction() {
			continue
		}
		if _, err := l.compact(stop); err != nil && !errors.Is(err, ErrClosed) {
			m.logger.Error("log: compaction failed", "dir", l.dir, "err", err)
		}
	}
}

// RunRetention applies retention to every partition now.
func (m *Manager) RunRetention() {
	for _, l := range m.logs() {
		if _, err := l.ApplyRetention(); err != nil && !errors.Is(err, ErrClosed) {
			m.logger.Error("log: retention failed", "dir", l.dir, "err", err)
		}
	}
}

// flushDue fsyncs every partition whose unflushed data is older than its
// flush.ms.
func (m *Manager) flushDue(now time.Time) {
	for _, l := range m.logs() {
		if sealed := l.sealedEnd.Load(); l.flushedOffset.Load() < sealed || l.sealedSynced.Load() < sealed {
			// A segment rolled since the last flush: flush it (and what
			// follows), as Kafka does after a roll, so that it releases
			// its file descriptor and the recovery point moves on. One
			// flushed while still active is synced again once sealed,
			// or it would keep its descriptor and its mappings for good.
			if err := l.syncTo(sealed); err != nil && !errors.Is(err, ErrClosed) {
				m.logger.Error("log: flush of a rolled segment failed", "dir", l.dir, "err", err)
			}
		}
		cfg := l.cfg.Load()
		if cfg.FlushMs == DefaultFlushMs {
			continue
		}
		since, dirty := l.unflushedSince()
		if dirty && now.Sub(since) >= time.Duration(cfg.FlushMs)*time.Millisecond {
			if err := l.syncTo(l.nextOffset.Load()); err != nil {
				m.logger.Error("log: flush failed", "dir", l.dir, "err", err)
			}
		}
	}
}

// Close stops the background work, closes every log cleanly and releases
// the data dir lock.
func (m *Manager) Close() error {
	select {
	case <-m.stop:
		return nil
	default:
	}
	close(m.stop)
	m.wg.Wait()
	m.waitProducerIDFetch()
	err := m.closeLogs()
	if err != nil {
		m.logger.Error("log: data dir not closed cleanly; the next start recovers every partition", "dir", m.dir, "err", err)
	}
	if uerr := m.lock.unlock(); err == nil && uerr != nil {
		err = fmt.Errorf("log: unlock %s: %w", m.dir, uerr)
	}
	return err
}

// abandonLogs closes every log after a failed OpenManager, without the
// clean-shutdown marker: partitions not yet opened were not recovered.
func (m *Manager) abandonLogs() {
	logs := m.logs()
	parallel(len(logs), m.ioWorkers(), func(i int) error { return logs[i].Close() })
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// publishGrown records nt, a topic grown by the new logs added, in its
// metadata file and publishes it; if the file cannot be written the new
// logs are deleted, so no partition exists that the metadata lacks.
func (m *Manager) publishGrown(nt *Topic, added []*Log) error {
	if err := m.writeTopicMeta(nt); err != nil {
		for _, l := range added {
			l.removeAll()
		}
		return m.storageErr(err)
	}
	m.publish(nt)
	return nil
}
