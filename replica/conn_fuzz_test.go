package replica_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/recordbatch"
	"github.com/tributary-io/tributary/replica"
)

// fuzzLeader answers each connection's ApiVersions with a canned answer
// and its next request with the bytes a fuzz input gives, the request's
// correlation ID patched into them when they are long enough to carry
// one, then closes the connection.
type fuzzLeader struct {
	ln       net.Listener
	apiFrame []byte
	next     chan []byte
	wg       sync.WaitGroup
}

func startFuzzLeader(f *testing.F) *fuzzLeader {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	api := kmsg.NewPtrApiVersionsResponse()
	api.Version = 3
	for _, k := range []int16{1, 18} {
		ak := kmsg.NewApiVersionsResponseApiKey()
		ak.ApiKey, ak.MaxVersion = k, 3
		if k == 1 {
			ak.MaxVersion = kmsg.NewPtrFetchRequest().MaxVersion()
		}
		api.ApiKeys = append(api.ApiKeys, ak)
	}
	apiFrame := api.AppendTo(make([]byte, 8))
	binary.BigEndian.PutUint32(apiFrame, uint32(len(apiFrame)-4))
	l := &fuzzLeader{ln: ln, apiFrame: apiFrame, next: make(chan []byte, 1)}
	l.wg.Add(1)
	go l.serve()
	f.Cleanup(func() { ln.Close(); l.wg.Wait() })
	return l
}

func (l *fuzzLeader) serve() {
	defer l.wg.Done()
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			return
		}
		answer := <-l.next
		var hdr [12]byte // size, key, version, correlation ID
		for i, out := range [][]byte{l.apiFrame, answer} {
			if _, err := io.ReadFull(nc, hdr[:]); err != nil {
				break
			}
			if _, err := io.CopyN(io.Discard, nc, int64(binary.BigEndian.Uint32(hdr[:4]))-8); err != nil {
				break
			}
			if i == 0 || len(out) >= 8 {
				out = append([]byte(nil), out...)
				copy(out[4:8], hdr[8:12])
			}
			if _, err := nc.Write(out); err != nil {
				break
			}
		}
		nc.Close()
	}
}

// FuzzConnFetchResponse: whatever bytes a leader answers a fetch with,
// Conn.Fetch returns a response or an error, without a panic or a hang.
func FuzzConnFetchResponse(f *testing.F) {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = kmsg.NewPtrFetchRequest().MaxVersion()
	rt := kmsg.NewFetchResponseTopic()
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.RecordBatches = recordbatch.Build(2, 10, 1_700_000_000_000)
	rt.Partitions = append(rt.Partitions, rp)
	resp.Topics = append(resp.Topics, rt)
	valid := append(make([]byte, 8), 0) // size, correlation ID, no header tags
	valid = resp.AppendTo(valid)
	binary.BigEndian.PutUint32(valid, uint32(len(valid)-4))
	f.Add(valid)
	f.Add(valid[:len(valid)/2])                             // cut short
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0})       // a huge size
	f.Add([]byte{0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0})       // a negative size
	f.Add([]byte{0, 0, 0, 6, 0, 0, 0, 0, 5, 1})             // header tags past the frame
	f.Add(append([]byte{0, 0, 0, 5, 0, 0, 0, 0}, valid[8])) // no body
	l := startFuzzLeader(f)
	f.Fuzz(func(t *testing.T, answer []byte) {
		c := replica.NewConn(1, replica.ConnConfig{Addr: l.ln.Addr().String(), IOTimeout: 2 * time.Second, MaxResponseBytes: 1 << 20})
		defer c.Close()
		l.next <- answer
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		resp, err := c.Fetch(ctx, fetchOf("t", [16]byte{1}, 0, 0))
		switch {
		case err == nil && resp == nil:
			t.Fatal("no response and no error")
		case bytes.Equal(answer, valid) && (err != nil || len(resp.Topics) != 1):
			t.Fatalf("a valid answer: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("the fetch took %v", d)
		}
	})
}
