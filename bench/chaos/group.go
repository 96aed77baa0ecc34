package chaos

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// eventKind is what one line of a consumer child reported (see
// consumer.go), plus evExit for the end of its output.
type eventKind uint8

const (
	evAssign eventKind = iota
	evRevoke
	evLost
	evRec
	evTry
	evCommit
	evReject
	evCfail
	evExit // the member's stdout ended: it exited or was killed
	evNote // what the harness did, for the record
)

var eventNames = map[string]eventKind{
	"assign": evAssign, "revoke": evRevoke, "lost": evLost, "rec": evRec,
	"try": evTry, "commit": evCommit, "reject": evReject, "cfail": evCfail,
}

// event is one thing a member reported, numbered in the order the harness
// received it. Each member's lines keep their own order; across members the
// order is that of arrival, which puts a commit before the processing it
// made possible: between them lie a rebalance and several round trips.
type event struct {
	seq    int64
	member int
	kind   eventKind
	p      int32
	o      int64  // offset (rec) or committed next offset (try, commit, ...)
	id     ID     // rec: the record's identity
	idOK   bool   // rec: the value parsed
	code   int16  // reject: the error code
	line   string // for messages
	atTime time.Time
}

// GroupLog collects the events of every member of the group. Safe for
// concurrent use.
type GroupLog struct {
	mu     sync.Mutex
	events []event // guarded by mu
	bad    []string
	// done[p][o] says whether offset o of partition p was processed;
	// firstUndone[p] is the first offset not processed (done below it).
	done        map[int32][]bool
	firstUndone map[int32]int64
}

// NewGroupLog returns an empty log.
func NewGroupLog() *GroupLog {
	return &GroupLog{done: map[int32][]bool{}, firstUndone: map[int32]int64{}}
}

func (l *GroupLog) add(e event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.seq = int64(len(l.events))
	e.atTime = time.Now()
	l.events = append(l.events, e)
	if e.kind == evRec && e.o >= 0 && e.o < 1<<40 {
		d := l.done[e.p]
		for int64(len(d)) <= e.o {
			d = append(d, false)
		}
		d[e.o] = true
		f := l.firstUndone[e.p]
		for f < int64(len(d)) && d[f] {
			f++
		}
		l.done[e.p], l.firstUndone[e.p] = d, f
	}
}

// line parses one line of member m.
func (l *GroupLog) line(m int, s string) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return
	}
	kind, ok := eventNames[f[0]]
	if !ok {
		l.addBad(m, s)
		return
	}
	ints := func(fs []string) ([]int64, bool) {
		out := make([]int64, len(fs))
		for i, x := range fs {
			n, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				return nil, false
			}
			out[i] = n
		}
		return out, true
	}
	switch kind {
	case evAssign, evRevoke, evLost:
		ps, ok := ints(f[1:])
		if !ok || len(ps) == 0 {
			l.addBad(m, s)
			return
		}
		for i, p := range ps {
			e := event{member: m, kind: kind, p: int32(p)}
			if i == 0 {
				e.line = s // once, for the record
			}
			l.add(e)
		}
	case evRec:
		if len(f) != 4 {
			l.addBad(m, s)
			return
		}
		n, ok := ints(f[1:3])
		if !ok {
			l.addBad(m, s)
			return
		}
		id, idOK := parseID(f[3])
		l.add(event{member: m, kind: kind, p: int32(n[0]), o: n[1], id: id, idOK: idOK, line: s})
	default:
		want := 3
		if kind == evReject {
			want = 4
		}
		n, ok := ints(f[1:])
		if !ok || len(f) != want {
			l.addBad(m, s)
			return
		}
		e := event{member: m, kind: kind, p: int32(n[0]), o: n[1], line: s}
		if kind == evReject {
			e.code = int16(n[2])
		}
		l.add(e)
	}
}

func (l *GroupLog) addBad(m int, s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.bad) < 100 {
		l.bad = append(l.bad, fmt.Sprintf("member %d: %q", m, s))
	}
}

// ProcessedThrough returns, per partition, the first offset not processed
// by any member (every offset below it was).
func (l *GroupLog) ProcessedThrough() map[int32]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[int32]int64, len(l.firstUndone))
	for p, f := range l.firstUndone {
		out[p] = f
	}
	return out
}

// snapshot returns the events and bad lines so far.
func (l *GroupLog) snapshot() ([]event, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]event(nil), l.events...), append([]string(nil), l.bad...)
}

// member is one consumer child.
type member struct {
	idx      int
	clientID string
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	done     chan struct{} // closed when its stdout ended and it was reaped
	stderr   *tailBuffer
	waitErr  error // set before done is closed
	killed   bool  // by the harness, with SIGKILL
}

// memberConfig is how members are started.
type memberConfig struct {
	exe         string   // the program to re-run (os.Executable)
	args        []string // its arguments
	addr, group string
	topic       string
	session     time.Duration
	commitEvery time.Duration
	deadline    time.Time // members exit by themselves then
}

// startMember starts member idx; its lines go to log.
func startMember(cfg memberConfig, idx int, log *GroupLog) (*member, error) {
	m := &member{idx: idx, clientID: "chaos-member-" + strconv.Itoa(idx), done: make(chan struct{}), stderr: &tailBuffer{max: 16 << 10}}
	cmd := exec.Command(cfg.exe, cfg.args...)
	cmd.Env = append(os.Environ(),
		EnvConsumerBroker+"="+cfg.addr,
		EnvConsumerGroup+"="+cfg.group,
		EnvConsumerTopic+"="+cfg.topic,
		EnvConsumerClientID+"="+m.clientID,
		EnvConsumerDeadline+"="+strconv.FormatInt(cfg.deadline.UnixMilli(), 10),
		EnvConsumerSession+"="+cfg.session.String(),
		EnvConsumerCommit+"="+cfg.commitEvery.String(),
	)
	cmd.Stderr = m.stderr
	cmd.SysProcAttr = childProcAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		stdin.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		stdin.Close()
		return nil, fmt.Errorf("chaos: start member %d: %w", idx, err)
	}
	m.cmd, m.stdin = cmd, stdin
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		for sc.Scan() {
			log.line(idx, sc.Text())
		}
		// Every line is read: the member's runs end here.
		log.add(event{member: idx, kind: evExit, p: -1})
		m.waitErr = cmd.Wait()
		close(m.done)
	}()
	return m, nil
}

// kill ends the member with SIGKILL: it neither commits nor leaves.
func (m *member) kill() {
	m.killed = true
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.done
	m.stdin.Close()
}

// stop asks the member to commit, leave the group and exit, and kills it
// if it has not within timeout. It reports whether it exited cleanly.
func (m *member) stop(timeout time.Duration) error {
	m.stdin.Close()
	select {
	case <-m.done:
	case <-time.After(timeout):
		m.kill()
		return fmt.Errorf("member %d did not exit within %v of being told to; stderr: %s", m.idx, timeout, m.stderr)
	}
	if m.waitErr != nil {
		return fmt.Errorf("member %d: %v; stderr: %s", m.idx, m.waitErr, m.stderr)
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
