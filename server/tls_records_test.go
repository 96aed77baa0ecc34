package server

import (
	"bytes"
	"math/rand/v2"
	"net"
	"testing"
)

// writeLog records each Write it is given.
type writeLog struct {
	all    bytes.Buffer
	writes []int
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.writes = append(w.writes, len(p))
	return w.all.Write(p)
}

// TestTLSRecordsWritesWholeRecords: a response written piece by piece (a
// head, then segment views and the few bytes between them) reaches the
// TLS connection unchanged, in writes that are whole multiples of a TLS
// record except the response's last, so crypto/tls seals no short record
// in the middle of a response.
func TestTLSRecordsWritesWholeRecords(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	piece := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	const r = tlsMaxPlaintext
	for _, tc := range []struct {
		name   string
		pieces []int
	}{
		{"one small answer", []int{64}},
		{"exactly one record", []int{r}},
		{"head then views", []int{90, 1 << 20, 17, 1<<20 + 5, 17, 3 * r}},
		{"views shorter than a record", []int{90, 1000, 17, 5000, 17, r - 1, 17, 2}},
		{"head of a record and a byte", []int{r + 1}},
		{"random", func() []int {
			var ps []int
			for range 200 {
				ps = append(ps, rng.IntN(3*r))
			}
			return ps
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log writeLog
			tr := newTLSRecords(&log)
			var want bytes.Buffer
			var bufs net.Buffers
			for _, n := range tc.pieces {
				p := piece(n)
				want.Write(p)
				bufs = append(bufs, p)
			}
			n, err := bufs.WriteTo(tr)
			if err != nil || n != int64(want.Len()) {
				t.Fatalf("WriteTo = %d, %v; want %d", n, err, want.Len())
			}
			if err := tr.Flush(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(log.all.Bytes(), want.Bytes()) {
				t.Fatal("bytes written differ from the response")
			}
			for i, w := range log.writes {
				if w == 0 || (i < len(log.writes)-1 && w%r != 0) {
					t.Fatalf("write %d of %d is %d bytes: only the last may be a short record (writes %v)", i, len(log.writes), w, log.writes)
				}
			}
			if want := (want.Len() + r - 1) / r; len(log.writes) > want {
				t.Errorf("%d writes for %d records", len(log.writes), want)
			}
			before := len(log.writes)
			if err := tr.Flush(); err != nil || len(log.writes) != before {
				t.Fatal("a second Flush wrote")
			}
		})
	}
}
