package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/internal/clustertest"
)

const (
	// probeEvery is the pause between two Metadata probes of a starting
	// broker: the resolution of the recovery times reported.
	probeEvery = 5 * time.Millisecond
	// probeTimeout bounds one Metadata probe.
	probeTimeout = time.Second
	// stopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	stopTimeout = 30 * time.Second
)

// modulePath is the import path of the binary BuildBinary compiles.
const modulePath = "github.com/tributary-io/tributary/cmd/tributary"

// BuildBinary compiles the tributary binary (cmd/tributary, without the
// race detector: the broker under test is the one operators run) into dir
// and returns its path. It must run inside the module, as a test does.
func BuildBinary(ctx context.Context, dir string) (string, error) {
	bin := dir + string(os.PathSeparator) + "tributary"
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, modulePath).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("chaos: go build %s: %w\n%s", modulePath, err, out)
	}
	return bin, nil
}

// BinaryHasSetting reports whether `serve --help` of the binary at bin lists
// the broker setting name as a flag, so that a harness passes only settings
// the broker really applies.
func BinaryHasSetting(ctx context.Context, bin, name string) (bool, error) {
	out, err := exec.CommandContext(ctx, bin, "serve", "--help").CombinedOutput()
	if err != nil {
		return false, fmt.Errorf("chaos: %s serve --help: %w\n%s", bin, err, out)
	}
	return strings.Contains(string(out), "--"+name+" "), nil
}

// FreeAddr returns a free loopback address for a broker that is restarted
// on it again and again. The port is picked below the kernel's ephemeral
// range (ip_local_port_range), which the kernel never hands out by itself:
// a port from that range could be given to some other process's outgoing
// connection or :0 listener while the broker is down. Without that range
// (not Linux) it falls back to a port the kernel picks.
func FreeAddr(rng *rand.Rand) (string, error) {
	low := clustertest.EphemeralPortLow()
	for range freeAddrTries {
		if low <= minPort+1 {
			break
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(minPort+rng.IntN(low-minPort)))
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return addr, ln.Close()
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("chaos: free port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

const (
	// minPort is the lowest port FreeAddr picks: above the well-known
	// and most registered service ports.
	minPort = 20000
	// freeAddrTries bounds FreeAddr's attempts below the ephemeral range.
	freeAddrTries = 50
)

// openLine is the start of the log line the broker writes once its data
// dir is open and recovered, with the time that took as took=<duration>.
const openLine = `msg="tributary: data dir open"`

// logScanner passes a broker's output to w and picks the recovery time out
// of its "data dir open" line.
type logScanner struct {
	w io.Writer

	mu      sync.Mutex
	partial []byte        // guarded by mu: a line not yet ended
	took    time.Duration // guarded by mu: of the last "data dir open" line; -1 none
}

func (s *logScanner) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		line := s.partial[:i]
		if bytes.Contains(line, []byte(openLine)) {
			if _, v, ok := bytes.Cut(line, []byte(" took=")); ok {
				if d, err := time.ParseDuration(string(bytes.Fields(v)[0])); err == nil {
					s.took = d
				}
			}
		}
		s.partial = s.partial[i+1:]
	}
	if len(s.partial) > maxPartialLine {
		s.partial = s.partial[:0]
	}
	s.mu.Unlock()
	return s.w.Write(p)
}

// takeOpen returns and forgets the recovery time of the last "data dir
// open" line, -1 if none came since the last call.
func (s *logScanner) takeOpen() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.took
	s.took = -1
	return d
}

// maxPartialLine bounds a log line kept while it is incomplete.
const maxPartialLine = 64 << 10

// Broker is the real `tributary serve` in a child process, started and
// killed again and again over one data dir and one address. Its methods
// are not safe for concurrent use, except PID and Running.
type Broker struct {
	Bin, DataDir, Addr string
	// Args are extra serve flags (broker settings).
	Args []string
	// Stderr receives the logs of every incarnation, appended.
	Stderr io.Writer

	scanOnce sync.Once
	scan     *logScanner

	mu   sync.Mutex
	cmd  *exec.Cmd     // guarded by mu; nil before the first Start
	done chan struct{} // guarded by mu; closed once cmd was reaped
	werr error         // set before done is closed
}

// Start starts the broker and waits until it answers a Metadata request,
// which is after it recovered its data dir. It returns that time, measured
// from just before the process was started (its recovery time). A broker
// that exits or does not answer before ctx ends is an error.
func (b *Broker) Start(ctx context.Context) (time.Duration, error) {
	if b.Running() {
		return 0, errors.New("chaos: broker already running")
	}
	args := append([]string{"serve", "--data-dir", b.DataDir, "--listen", b.Addr, "--metrics-listen", ""}, b.Args...)
	b.scanOnce.Do(func() {
		w := b.Stderr
		if w == nil {
			w = io.Discard
		}
		b.scan = &logScanner{w: w, took: -1}
	})
	b.scan.takeOpen()
	cmd := exec.Command(b.Bin, args...)
	cmd.Stdout = b.scan
	cmd.Stderr = b.scan
	cmd.SysProcAttr = childProcAttr()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("chaos: start broker: %w", err)
	}
	done := make(chan struct{})
	b.mu.Lock()
	b.cmd, b.done = cmd, done
	b.mu.Unlock()
	go func() {
		err := cmd.Wait()
		b.mu.Lock()
		b.werr = err
		b.mu.Unlock()
		close(done)
	}()

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr),
		kgo.DialTimeout(probeTimeout),
		kgo.RetryBackoffFn(func(int) time.Duration { return probeEvery }),
		kgo.RequestRetries(0))
	if err != nil {
		return 0, fmt.Errorf("chaos: probe client: %w", err)
	}
	defer cl.Close()
	for {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		_, err := kmsg.NewPtrMetadataRequest().RequestWith(pctx, cl)
		cancel()
		if err == nil {
			return time.Since(start), nil
		}
		select {
		case <-done:
			return time.Since(start), fmt.Errorf("chaos: broker (pid %d) exited during recovery: %v", cmd.Process.Pid, b.waitErr())
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("chaos: broker (pid %d) not answering Metadata after %v: %w (last: %v)",
				cmd.Process.Pid, time.Since(start).Round(time.Millisecond), ctx.Err(), err)
		case <-time.After(probeEvery):
		}
	}
}

func (b *Broker) waitErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.werr
}

// OpenTime is how long the current incarnation said opening and
// recovering its data dir took (its "data dir open" log line), -1 if it
// did not say.
func (b *Broker) OpenTime() time.Duration {
	if b.scan == nil {
		return -1
	}
	b.scan.mu.Lock()
	defer b.scan.mu.Unlock()
	return b.scan.took
}

// PID is the process ID of the current incarnation (0 before Start).
func (b *Broker) PID() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return 0
	}
	return b.cmd.Process.Pid
}

// Running reports whether an incarnation is running (or not yet reaped).
func (b *Broker) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done == nil {
		return false
	}
	select {
	case <-b.done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL and waits for the process to be reaped: nothing of
// the broker's shutdown path runs.
func (b *Broker) Kill() error {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGKILL) // fails only once reaped
	<-done
	return nil
}

// Stop sends SIGTERM and waits for a clean exit (status 0), killing the
// broker if it takes longer than stopTimeout.
func (b *Broker) Stop() error {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(stopTimeout):
		_ = b.Kill()
		return fmt.Errorf("chaos: broker (pid %d) did not stop within %v of SIGTERM", cmd.Process.Pid, stopTimeout)
	}
	if err := b.waitErr(); err != nil {
		return fmt.Errorf("chaos: broker (pid %d) shutdown: %w", cmd.Process.Pid, err)
	}
	return nil
}
