package server

import "io"

// tlsMaxPlaintext is the most plaintext one TLS record carries (2^14
// bytes, RFC 8446 section 5.1; crypto/tls's maxPlaintext).
const tlsMaxPlaintext = 16 << 10

// tlsRecords writes a response to a TLS connection so that every record
// but the response's last is full. crypto/tls seals each Write into
// records of at most 16 KiB and sends each record with its own write(2);
// a response is a head, then per partition a segment view and the next
// partition's few header bytes, so writing each piece as it comes would
// end every piece with a short record: one more header, tag, seal set-up
// and system call each. tlsRecords tops up a short tail with the next
// piece's first bytes in one record-sized buffer, and hands whole
// multiples of a record to the connection straight from the piece, so
// that at most one record's worth per piece is copied.
type tlsRecords struct {
	w   io.Writer // the tls.Conn
	buf []byte    // a short record being filled: len < tlsMaxPlaintext
}

func newTLSRecords(w io.Writer) *tlsRecords {
	return &tlsRecords{w: w, buf: make([]byte, 0, tlsMaxPlaintext)}
}

// Write takes all of p: whole records go out now, the tail waits in buf
// for the next Write or Flush.
func (t *tlsRecords) Write(p []byte) (int, error) {
	n := 0
	if len(t.buf) > 0 {
		k := copy(t.buf[len(t.buf):cap(t.buf)], p)
		t.buf, p, n = t.buf[:len(t.buf)+k], p[k:], k
		if len(t.buf) < cap(t.buf) {
			return n, nil
		}
		if _, err := t.w.Write(t.buf); err != nil {
			return n, err
		}
		t.buf = t.buf[:0]
	}
	if whole := len(p) - len(p)%tlsMaxPlaintext; whole > 0 {
		m, err := t.w.Write(p[:whole])
		n += m
		if err != nil {
			return n, err
		}
		p = p[whole:]
	}
	t.buf = append(t.buf, p...)
	return n + len(p), nil
}

// Flush sends the short last record, if any.
func (t *tlsRecords) Flush() error {
	if len(t.buf) == 0 {
		return nil
	}
	_, err := t.w.Write(t.buf)
	t.buf = t.buf[:0]
	return err
}
