//go:build overload || scale

package bench_test

// The overload test's view of the broker: the real `tributary serve`
// binary in a child process, its memory from /proc and from its own
// /metrics, and a raw Kafka connection that the test controls byte by
// byte (idle clients, the latency probe, the slow reader).

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
	// serveStopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	serveStopTimeout = time.Minute
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

// stop sends SIGTERM (serve drains, flushes and exits 0) and waits; past
// serveStopTimeout it kills the child.
func (p *serveProc) stop() error { return p.stopWithin(serveStopTimeout) }

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

// scrapeMetrics reads the broker's /metrics into series text (name and
// labels as exposed) -> value.
func scrapeMetrics(ctx context.Context, addr string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, rawIOTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 64<<20))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
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

// apiVersions checks that the connection is served.
func (c *rawConn) apiVersions() error {
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "overload", "1"
	resp, err := c.roundTrip(req)
	if err != nil {
		return err
	}
	if code := resp.(*kmsg.ApiVersionsResponse).ErrorCode; code != 0 {
		return fmt.Errorf("ApiVersions: error code %d", code)
	}
	return nil
}

// expectClosed waits for the broker to close the connection unanswered.
func (c *rawConn) expectClosed() error {
	c.nc.SetReadDeadline(time.Now().Add(rawIOTimeout))
	got, err := io.ReadAll(c.nc)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("connection still open after %v", rawIOTimeout)
	case len(got) > 0:
		return fmt.Errorf("broker answered %d bytes instead of closing", len(got))
	}
	return nil
}

// produceReq is a Produce v9 (acks=all) of batch to topic's partition.
func produceReq(topic string, partition int32, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 9
	req.Acks = -1
	req.TimeoutMillis = 30_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// fetchReq is a Fetch v11 of topic's partitions from offset, asking for
// maxBytes in all and per partition.
func fetchReq(topic string, partitions int32, offset int64, maxBytes int32, maxWait time.Duration) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 11
	req.ReplicaID = -1
	req.MaxWaitMillis = int32(maxWait / time.Millisecond)
	req.MinBytes = 1
	req.MaxBytes = maxBytes
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	for p := range partitions {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p
		rp.FetchOffset = offset
		rp.PartitionMaxBytes = maxBytes
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// raiseFileLimit lifts the soft RLIMIT_NOFILE to at least want (up to the
// hard limit); the broker child inherits it.
func raiseFileLimit(t *testing.T, want uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= want {
		return
	}
	lim.Cur = min(want, lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < want {
		t.Skipf("RLIMIT_NOFILE hard limit %d is below the %d descriptors the test needs", lim.Max, want)
	}
}
