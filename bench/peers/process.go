package peers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

const (
	// processStartTimeout bounds the wait for a server to accept
	// connections.
	processStartTimeout = 15 * time.Second
	// processStopTimeout is how long Stop waits after its signal before
	// SIGKILL: a server flushes its files on the way out.
	processStopTimeout = 30 * time.Second
	// portAttempts is how often a start is retried on a fresh port, in case
	// another process took the free port between our probe and the
	// server's bind.
	portAttempts = 3
	// logTail is how much of a failed server's log an error quotes.
	logTail = 2048
)

// serverProc is a server binary (nats-server, redis-server) running as a
// child of this process, listening on 127.0.0.1.
type serverProc struct {
	name string
	// stopSignal asks the server to shut down cleanly (nats-server exits
	// with status 1 on SIGTERM, 0 on SIGINT).
	stopSignal syscall.Signal
	addr       string // 127.0.0.1:port
	logPath    string // the server's stdout and stderr
	cmd        *exec.Cmd
	done       chan struct{} // closed once the process has been reaped
	waitErr    error         // set before done is closed
}

// startProcess starts bin with the arguments args(port) on a free loopback
// port, logging to dir/<name>.log, and returns once the port accepts
// connections. It retries on another port if the server exits during
// start-up. stop is the signal that asks the server to shut down.
func startProcess(ctx context.Context, name, bin, dir string, stop syscall.Signal, args func(port int) []string) (*serverProc, error) {
	var err error
	for range portAttempts {
		var port int
		if port, err = freePort(); err != nil {
			return nil, err
		}
		var p *serverProc
		if p, err = tryStart(ctx, name, bin, dir, port, args(port)); err == nil {
			p.stopSignal = stop
			return p, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

func tryStart(ctx context.Context, name, bin, dir string, port int, args []string) (*serverProc, error) {
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("peers: %s: %w", name, err)
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// The server must not outlive this process, whatever ends it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("peers: start %s: %w", name, err)
	}
	p := &serverProc{
		name:    name,
		addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		logPath: logPath,
		cmd:     cmd,
		done:    make(chan struct{}),
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	if err := p.waitReady(ctx); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// waitReady polls the server's port until it accepts a connection, the
// server exits, or the start timeout passes.
func (p *serverProc) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, processStartTimeout)
	defer cancel()
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", p.addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("peers: %s exited during start-up (%v): %s", p.name, p.waitErr, p.tail())
		case <-ctx.Done():
			return fmt.Errorf("peers: %s not accepting connections on %s: %w: %s", p.name, p.addr, ctx.Err(), p.tail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// PID is the server's process ID.
func (p *serverProc) PID() int { return p.cmd.Process.Pid }

// Stop sends the stop signal to the server's PID and waits for it to
// exit, SIGKILL after processStopTimeout. It returns an error if the server had
// to be killed or did not exit cleanly.
func (p *serverProc) Stop() error {
	select {
	case <-p.done:
		return p.exitErr("had exited")
	default:
	}
	_ = p.cmd.Process.Signal(p.stopSignal) // fails only once reaped
	t := time.NewTimer(processStopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		return p.exitErr("on " + p.stopSignal.String())
	case <-t.C:
		p.kill()
		return fmt.Errorf("peers: %s (pid %d) killed after not stopping in %v", p.name, p.PID(), processStopTimeout)
	}
}

func (p *serverProc) exitErr(when string) error {
	if p.waitErr != nil {
		return fmt.Errorf("peers: %s (pid %d) %s: %w: %s", p.name, p.PID(), when, p.waitErr, p.tail())
	}
	return nil
}

// kill ends the server with SIGKILL and waits for it to be reaped.
func (p *serverProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// tail is the end of the server's log, for error messages.
func (p *serverProc) tail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	b = bytes.TrimSpace(b)
	if len(b) > logTail {
		b = b[len(b)-logTail:]
	}
	if len(b) == 0 {
		return "(empty log)"
	}
	return string(b)
}

// freePort is a TCP port on 127.0.0.1 that nothing listened on a moment
// ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("peers: free port: %w", err)
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("peers: free port: not a TCP address")
	}
	return addr.Port, nil
}

// binaryMissing says how to install bin (from Debian package pkg) if it is
// not on PATH, and returns "" if it is.
func binaryMissing(bin, pkg string) string {
	if _, err := exec.LookPath(bin); err == nil {
		return ""
	}
	return fmt.Sprintf("%s not found on PATH; install it with `apt-get install -y %s` (Debian/Ubuntu, as root), or put a %s binary on PATH", bin, pkg, bin)
}

// versionOf runs bin with args and returns the first line of its output.
func versionOf(bin string, args ...string) string {
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return "unknown"
	}
	line, _, _ := bytes.Cut(bytes.TrimSpace(out), []byte("\n"))
	return string(line)
}
