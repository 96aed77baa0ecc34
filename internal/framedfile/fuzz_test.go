package framedfile

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode: any bytes decode to an error or to a payload; a payload of
// the current version encodes back to exactly the same bytes, and one of
// the legacy version re-encodes to a frame that decodes to it. Never a
// panic.
func FuzzDecode(f *testing.F) {
	f.Add(testFormat.Encode([]byte("payload")))
	f.Add(testFormat.Encode(nil))
	f.Add(legacyFrame("TEST", 1, []byte{0, 0, 1, 2, 3, 4, 5, 6, 7, 8}))
	f.Add([]byte("TEST"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, v, err := testFormat.Decode(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) {
				t.Fatalf("error matches no sentinel: %v", err)
			}
			return
		}
		switch v {
		case testFormat.Version:
			if got := testFormat.Encode(p); !bytes.Equal(got, b) {
				t.Fatalf("decode/encode round trip differs:\n in %x\nout %x", b, got)
			}
		case testFormat.LegacyVersion:
			again, v2, err := testFormat.Decode(testFormat.Encode(p))
			if err != nil || v2 != testFormat.Version || !bytes.Equal(again, p) {
				t.Fatalf("legacy payload %x rewritten does not read back: %x v%d %v", p, again, v2, err)
			}
		default:
			t.Fatalf("decoded version %d, reads only %d and %d", v, testFormat.LegacyVersion, testFormat.Version)
		}
	})
}
