//go:build overload

package bench_test

// The overload test's own helpers over the child broker: its /metrics,
// stop with the default timeout, and raw requests for idle clients, the
// latency probe and the slow reader (see overload_proc_test.go).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// serveStopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	serveStopTimeout = time.Minute
)

// stop sends SIGTERM (serve drains, flushes and exits 0) and waits; past
// serveStopTimeout it kills the child.
func (p *serveProc) stop() error { return p.stopWithin(serveStopTimeout) }

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
