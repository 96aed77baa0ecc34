//go:build overload || scale

package bench_test

// The overload and scale tests' view of the broker: the real `tributary
// serve` binary in a child process, its memory from /proc, and a raw
// Kafka connection that the test controls byte by byte. What only the
// overload test uses is in overload_raw_test.go.

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// envOverloadBin names a tributary binary to run instead of building one
// (make overload passes bin/tributary).
const envOverloadBin = "TRIBUTARY_OVERLOAD_BIN"

// Bounds of the helpers.
const (
	// serveStartTimeout bounds the wait for the child's listen line.
	serveStartTimeout = 30 * time.Second
	// rawIOTimeout bounds every raw write, and every read unless a caller
	// sets its own deadline.
	rawIOTimeout = 10 * time.Second
	// rawMaxResponse bounds one response frame read whole.
	rawMaxResponse = 64 << 20
	// logTailLines is how many of the child's log lines are kept for a
	// failure message.
	logTailLines = 200
)

// tributaryBinary returns the binary to run: $TRIBUTARY_OVERLOAD_BIN, or
// one built now from ./cmd/tributary.
func tributaryBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv(envOverloadBin); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "tributary")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/tributary-io/tributary/cmd/tributary").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/tributary: %v\n%s", err, out)
	}
	return bin
}

// serveProc is `tributary serve` running in a child process.
type serveProc struct {
	cmd     *exec.Cmd
	addr    string // Kafka listener
	metrics string // /metrics listener
	done    chan struct{}
	waitErr error // set before done closes

	mu   sync.Mutex
	tail []string // the child's last log lines
}

// serveListening is the line serve logs once it serves, with both
// addresses.
var serveListening = regexp.MustCompile(`msg="tributary: serving Kafka clients" listen=(\S+) metrics=(\S+)`)

// startServe runs bin serve over dataDir on free loopback ports with the
// given extra flags. The child inherits this process's rlimits.
func startServe(t *testing.T, bin, dataDir string, flags ...string) *serveProc {
	t.Helper()
	p, err := startServeWithin(bin, dataDir, serveStartTimeout, flags...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startServeWithin is startServe returning an error when the broker does
// not serve within timeout (it is then killed).
func startServeWithin(bin, dataDir string, timeout time.Duration, flags ...string) (*serveProc, error) {
	args := append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"}, flags...)
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &serveProc{cmd: cmd, done: make(chan struct{})}
	addrs := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if m := serveListening.FindStringSubmatch(line); m != nil {
				select {
				case addrs <- [2]string{m[1], m[2]}:
				default:
				}
			}
			p.mu.Lock()
			p.tail = append(p.tail, line)
			if len(p.tail) > logTailLines {
				p.tail = p.tail[len(p.tail)-logTailLines:]
			}
			p.mu.Unlock()
		}
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	select {
	case a := <-addrs:
		p.addr, p.metrics = a[0], a[1]
	case <-p.done:
		return nil, fmt.Errorf("tributary serve exited before serving: %v\n%s", p.waitErr, p.logs())
	case <-time.After(timeout):
		p.kill()
		return nil, fmt.Errorf("tributary serve did not serve within %v\n%s", timeout, p.logs())
	}
	return p, nil
}

func (p *serveProc) pid() int { return p.cmd.Process.Pid }

func (p *serveProc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// stopWithin is stop with its own timeout.
func (p *serveProc) stopWithin(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.waitErr
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.waitErr
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("tributary serve (pid %d) killed: still running %v after SIGTERM", p.pid(), timeout)
	}
}

func (p *serveProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// procMemory is a process's memory from /proc/<pid>/status, in bytes.
type procMemory struct {
	RSS, HWM, Anon, File int64 // VmRSS, VmHWM, RssAnon, RssFile
}

func readProcMemory(pid int) (procMemory, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return procMemory{}, err
	}
	var m procMemory
	fields := map[string]*int64{"VmRSS:": &m.RSS, "VmHWM:": &m.HWM, "RssAnon:": &m.Anon, "RssFile:": &m.File}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == "kB" {
			if dst := fields[f[0]]; dst != nil {
				n, err := strconv.ParseInt(f[1], 10, 64)
				if err != nil {
					return m, fmt.Errorf("/proc/%d/status: %q: %w", pid, line, err)
				}
				*dst = n << 10
			}
		}
	}
	return m, nil
}

// rawConn is one Kafka connection driven by hand.
type rawConn struct {
	nc   net.Conn
	corr int32
	fmt  *kmsg.RequestFormatter
}

func dialRaw(addr, localIP string) (*rawConn, error) {
	d := net.Dialer{Timeout: rawIOTimeout}
	if localIP != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(localIP)}
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawConn{nc: nc, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("overload"))}, nil
}

func (c *rawConn) close() { c.nc.Close() }

// send writes req and returns its correlation id.
func (c *rawConn) send(req kmsg.Request) (int32, error) {
	c.corr++
	c.nc.SetWriteDeadline(time.Now().Add(rawIOTimeout))
	_, err := c.nc.Write(c.fmt.AppendRequest(nil, req, c.corr))
	return c.corr, err
}

// roundTrip sends req and decodes its response.
func (c *rawConn) roundTrip(req kmsg.Request) (kmsg.Response, error) {
	corr, err := c.send(req)
	if err != nil {
		return nil, err
	}
	c.nc.SetReadDeadline(time.Now().Add(rawIOTimeout))
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		return nil, fmt.Errorf("%s: read response size: %w", kmsg.NameForKey(req.Key()), err)
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > rawMaxResponse {
		return nil, fmt.Errorf("%s: response size %d", kmsg.NameForKey(req.Key()), n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.nc, b); err != nil {
		return nil, fmt.Errorf("%s: read response: %w", kmsg.NameForKey(req.Key()), err)
	}
	if got := int32(binary.BigEndian.Uint32(b)); got != corr {
		return nil, fmt.Errorf("%s: correlation id %d, want %d", kmsg.NameForKey(req.Key()), got, corr)
	}
	body := b[4:]
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != 18 { // ApiVersions answers with header v0
		r := kbin.Reader{Src: body}
		kmsg.SkipTags(&r)
		body = r.Src
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode %s: %w", kmsg.NameForKey(req.Key()), err)
	}
	return resp, nil
}
