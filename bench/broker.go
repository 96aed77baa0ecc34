package bench

import (
	"bufio"
	"context"
	"errors"
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

const (
	// brokerStopTimeout is how long Stop waits after SIGTERM before it
	// kills the child: a broker flushes and closes its data dir on the way
	// out.
	brokerStopTimeout = time.Minute
	// brokerStopGrace is how long Stop waits for the child to exit on the
	// end of its stdin before it sends SIGTERM.
	brokerStopGrace = 10 * time.Second
	// brokerCommandTimeout bounds the wait for the answer to one command.
	brokerCommandTimeout = 30 * time.Second
	// maxChildLine bounds one line of a child's stdout.
	maxChildLine = 64 << 10
)

// BrokerOption configures StartBroker.
type BrokerOption func(*brokerOptions)

type brokerOptions struct {
	partitions int
	stderr     io.Writer
}

// WithPartitions sets the child broker's num.partitions, the partition count
// of the topics it auto-creates (default 1, Kafka's).
func WithPartitions(n int) BrokerOption {
	return func(o *brokerOptions) { o.partitions = n }
}

// WithStderr sends the child's stderr (its logs) to w instead of this
// process's stderr; nil discards it.
func WithStderr(w io.Writer) BrokerOption {
	return func(o *brokerOptions) { o.stderr = w }
}

// BrokerProc is a broker running in a child process started by StartBroker.
// Its methods are safe for concurrent use.
type BrokerProc struct {
	// Kind is the broker kind the child runs.
	Kind string
	// Addr is the broker's host:port, on 127.0.0.1.
	Addr string

	cmd   *exec.Cmd
	lines chan string   // the child's stdout after the address; closed at EOF
	done  chan struct{} // closed once the child has exited and been waited for

	cmdMu  sync.Mutex     // serialises commands: one question, one answer
	stdin  io.WriteCloser // guarded by cmdMu; nil once closed
	broken error          // guarded by cmdMu; after a lost answer, every command fails

	waitErr error // set before done is closed
}

// StartBroker starts a broker of the given kind over dataDir in a child
// process, by re-executing this program (os.Executable) with EnvBroker and
// friends set; the program must call ServeChild when it sees them (see the
// package comment). It returns once the broker has announced its address.
// ctx bounds the start only: the child lives until Stop. The child also
// shuts down when this process dies, because its stdin closes.
func StartBroker(ctx context.Context, kind, dataDir string, opts ...BrokerOption) (*BrokerProc, error) {
	o := brokerOptions{partitions: 1, stderr: os.Stderr}
	for _, opt := range opts {
		opt(&o)
	}
	if kind == "" {
		return nil, errors.New("bench: start broker: empty kind")
	}
	if ChildKind() != "" {
		// A program that re-executes itself without handing control to
		// ServeChild would otherwise start children without end.
		return nil, fmt.Errorf("bench: start broker: this process is itself a %s child", ChildKind())
	}
	if o.partitions < 1 {
		return nil, fmt.Errorf("bench: start broker: partitions must be positive, got %d", o.partitions)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: start broker: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(),
		EnvBroker+"="+kind,
		EnvDataDir+"="+dataDir,
		EnvListen+"="+listenAddr,
		EnvPartitions+"="+strconv.Itoa(o.partitions),
	)
	cmd.Stderr = o.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: start broker: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		stdin.Close()
		return nil, fmt.Errorf("bench: start broker: %w", err)
	}
	if err := cmd.Start(); err != nil {
		stdin.Close()
		return nil, fmt.Errorf("bench: start broker %s: %w", kind, err)
	}
	p := &BrokerProc{
		Kind:  kind,
		cmd:   cmd,
		stdin: stdin,
		lines: make(chan string, 16),
		done:  make(chan struct{}),
	}
	// One goroutine owns the child's stdout and reaps the child; Stop
	// waits for it through done. It never blocks on lines, so that a child
	// that talks out of turn cannot keep it from reaping: lines nobody
	// asked for are dropped once the buffer is full.
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 4096), maxChildLine)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		close(p.lines)
		p.waitErr = cmd.Wait()
		close(p.done)
	}()

	select {
	case line, ok := <-p.lines:
		if ok && strings.HasPrefix(line, lineListening) {
			p.Addr = strings.TrimPrefix(line, lineListening)
			return p, nil
		}
		err = fmt.Errorf("bench: start broker %s: child said %q, want its address", kind, line)
	case <-ctx.Done():
		err = fmt.Errorf("bench: start broker %s: %w", kind, ctx.Err())
	}
	p.kill()
	return nil, err
}

// PID is the child's process ID.
func (p *BrokerProc) PID() int { return p.cmd.Process.Pid }

// CPU is the child's CPU time so far: user + system, all threads (see
// CPUTimes).
func (p *BrokerProc) CPU() (time.Duration, error) {
	user, sys, err := p.CPUTimes()
	return user + sys, err
}

// CPUTimes is the child's user and system CPU time so far, all threads, as
// the child's getrusage(RUSAGE_SELF) reports it (µs resolution) while it
// runs, and as wait4 reported it once it has exited. Asking costs the child
// a few µs. ProcessCPU(PID()) reads the same clock from outside, in 10 ms
// ticks.
func (p *BrokerProc) CPUTimes() (user, sys time.Duration, err error) {
	select {
	case <-p.done:
		return p.exitedCPU()
	default:
	}
	answer, err := p.command(cmdRusage)
	if err != nil {
		select {
		case <-p.done: // exited meanwhile
			return p.exitedCPU()
		default:
			return 0, 0, err
		}
	}
	var us, ss int64
	if n, _ := fmt.Sscanf(answer, "%d %d", &us, &ss); n != 2 || us < 0 || ss < 0 {
		return 0, 0, fmt.Errorf("bench: broker %s: bad rusage answer %q", p.Kind, answer)
	}
	return time.Duration(us) * time.Microsecond, time.Duration(ss) * time.Microsecond, nil
}

func (p *BrokerProc) exitedCPU() (user, sys time.Duration, err error) {
	if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), nil
	}
	return 0, 0, errors.New("bench: broker CPU: no rusage")
}

// StartCPUProfile makes the child write a CPU profile (runtime/pprof) to
// path, a file the child creates, until StopCPUProfile or Stop.
func (p *BrokerProc) StartCPUProfile(path string) error {
	if strings.ContainsAny(path, "\n\r") {
		return fmt.Errorf("bench: cpu profile path %q has a line break", path)
	}
	_, err := p.command(cmdCPUProfileStart + path)
	return err
}

// StopCPUProfile ends the child's CPU profile and closes its file.
func (p *BrokerProc) StopCPUProfile() error {
	_, err := p.command(cmdCPUProfileStop)
	return err
}

// command sends cmd to the child and returns what follows "ok" in its
// answer.
func (p *BrokerProc) command(cmd string) (string, error) {
	p.cmdMu.Lock()
	defer p.cmdMu.Unlock()
	if p.stdin == nil {
		return "", errors.New("bench: broker stopped")
	}
	if p.broken != nil {
		// A late answer to the lost command could be taken for the
		// answer to this one.
		return "", p.broken
	}
	if _, err := io.WriteString(p.stdin, cmd+"\n"); err != nil {
		return "", fmt.Errorf("bench: broker %s: %s: %w", p.Kind, cmd, err)
	}
	timer := time.NewTimer(brokerCommandTimeout)
	defer timer.Stop()
	select {
	case line, ok := <-p.lines:
		switch {
		case !ok:
			return "", fmt.Errorf("bench: broker %s exited during %q", p.Kind, cmd)
		case line == lineOK || strings.HasPrefix(line, lineOK+" "):
			return strings.TrimSpace(strings.TrimPrefix(line, lineOK)), nil
		case strings.HasPrefix(line, lineError):
			return "", fmt.Errorf("bench: broker %s: %s: %s", p.Kind, cmd, strings.TrimPrefix(line, lineError))
		default:
			return "", fmt.Errorf("bench: broker %s: %s: unexpected answer %q", p.Kind, cmd, line)
		}
	case <-timer.C:
		p.broken = fmt.Errorf("bench: broker %s: no answer to %q in %v", p.Kind, cmd, brokerCommandTimeout)
		return "", p.broken
	}
}

// Stop shuts the child down: SIGTERM to its PID (and end of its stdin),
// then a wait of up to a minute, then SIGKILL. It returns an error if the
// child did not exit cleanly. Calling Stop again returns the same result.
func (p *BrokerProc) Stop() error {
	p.closeStdin()
	// The end of stdin is the polite stop; give it a moment before the
	// signal, so that SIGTERM never lands after the child has stopped
	// catching signals on its way out (the default action would kill it).
	grace := time.NewTimer(brokerStopGrace)
	defer grace.Stop()
	select {
	case <-p.done:
	case <-grace.C:
	}
	select {
	case <-p.done:
	default:
		// Signal fails only once the child has been reaped.
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		timer := time.NewTimer(brokerStopTimeout)
		defer timer.Stop()
		select {
		case <-p.done:
		case <-timer.C:
			p.kill()
			return fmt.Errorf("bench: broker %s (pid %d) killed after not stopping in %v", p.Kind, p.PID(), brokerStopTimeout)
		}
	}
	if p.waitErr != nil {
		return fmt.Errorf("bench: broker %s (pid %d): %w", p.Kind, p.PID(), p.waitErr)
	}
	return nil
}

// kill ends the child with SIGKILL and waits for it to be reaped.
func (p *BrokerProc) kill() {
	p.closeStdin()
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *BrokerProc) closeStdin() {
	p.cmdMu.Lock()
	defer p.cmdMu.Unlock()
	if p.stdin != nil {
		p.stdin.Close()
		p.stdin = nil
	}
}

// ProcessCPU is the CPU time (user + system, all threads) that process pid
// has used so far, from fields 14 and 15 of /proc/<pid>/stat. Those count
// clock ticks of USER_HZ, which is 100 on Linux (sysconf(_SC_CLK_TCK)), so
// the resolution is 10 ms.
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("bench: process CPU: %w", err)
	}
	return parseProcStatCPU(string(b))
}

// clockTicksPerSecond is USER_HZ.
const clockTicksPerSecond = 100

// parseProcStatCPU reads utime and stime from a /proc/<pid>/stat line. The
// command name (field 2) is in parentheses and may contain spaces and
// parentheses, so fields are counted from the last ')'.
func parseProcStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: /proc stat without a command name: %.80q", stat)
	}
	// After ')': field 3 (state) is index 0, so utime (14) is 11, stime 12.
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: /proc stat with %d fields after the name", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bench: /proc stat: bad tick count %q", s)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicksPerSecond, nil
}
