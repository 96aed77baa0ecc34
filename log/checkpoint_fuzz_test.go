package log

import "testing"

// FuzzDecodeCheckpoint: any bytes in recovery-checkpoint must decode to an
// error or to a checkpoint that encodes back to the same bytes; never panic.
func FuzzDecodeCheckpoint(f *testing.F) {
	f.Add(encodeCheckpoint(checkpoint{clean: true, indexFormat: 1, recoveryOffset: 42, logStartOffset: 7}))
	f.Add(encodeCheckpoint(checkpoint{}))
	f.Add([]byte("TRCK"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCheckpoint(b)
		if err != nil {
			return
		}
		if c.recoveryOffset < 0 || c.logStartOffset < 0 {
			t.Fatalf("negative offsets accepted: %+v", c)
		}
		if got := encodeCheckpoint(c); string(got) != string(b) {
			t.Fatalf("decode/encode round trip differs:\n in %x\nout %x", b, got)
		}
	})
}
