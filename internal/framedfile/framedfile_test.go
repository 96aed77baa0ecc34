package framedfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

var testFormat = Format{Name: "test file", Magic: "TEST", Version: 2, LegacyVersion: 1, MaxPayload: 1 << 10}

// legacyFrame is a file in the frame that predates the package.
func legacyFrame(magic string, version uint16, body []byte) []byte {
	b := append([]byte(magic), 0, 0)
	binary.BigEndian.PutUint16(b[4:], version)
	b = append(b, body...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// reseal recomputes the CRC of a frame whose header was edited.
func reseal(b []byte) []byte {
	c := append([]byte(nil), b...)
	binary.BigEndian.PutUint32(c[len(c)-4:], crc32.Checksum(c[:len(c)-4], castagnoli))
	return c
}

func TestFrameLayoutIsDocumented(t *testing.T) {
	got := testFormat.Encode([]byte{0xAA, 0xBB})
	want := []byte{'T', 'E', 'S', 'T', 0, 2, 0, 0, 0, 0, 0, 2, 0xAA, 0xBB}
	want = binary.BigEndian.AppendUint32(want, crc32.Checksum(want, castagnoli))
	if !bytes.Equal(got, want) {
		t.Fatalf("frame\n got %x\nwant %x", got, want)
	}
}

func TestDecodeReadsCurrentAndPreviousVersion(t *testing.T) {
	payload := []byte("payload")
	prev := Format{Name: "test", Magic: "TEST", Version: 3}
	older := Format{Name: "test", Magic: "TEST", Version: 2}
	tests := []struct {
		name    string
		f       Format
		in      []byte
		payload []byte
		version uint16
		err     error
	}{
		{"current", testFormat, testFormat.Encode(payload), payload, 2, nil},
		{"empty payload", testFormat, testFormat.Encode(nil), []byte{}, 2, nil},
		{"legacy frame as N-1", testFormat, legacyFrame("TEST", 1, payload), payload, 1, nil},
		{"N-1 in the current frame", prev, older.Encode(payload), payload, 2, nil},
		{"N-2 refused", Format{Name: "test", Magic: "TEST", Version: 4}, older.Encode(payload), nil, 2, ErrVersion},
		{"N+1 refused", older, prev.Encode(payload), nil, 3, ErrVersion},
		{"legacy frame at an unread version", Format{Name: "test", Magic: "TEST", Version: 3, LegacyVersion: 1},
			legacyFrame("TEST", 1, payload), nil, 1, ErrVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, v, err := tc.f.Decode(tc.in)
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if v != tc.version || !bytes.Equal(p, tc.payload) {
				t.Fatalf("got version %d payload %q, want %d %q", v, p, tc.version, tc.payload)
			}
		})
	}
}

func TestDecodeRefusesDamagedFrames(t *testing.T) {
	good := testFormat.Encode([]byte("0123456789"))
	flip := func(i int) []byte {
		c := append([]byte(nil), good...)
		c[i] ^= 0x10
		return c
	}
	withLength := func(n uint32) []byte {
		c := append([]byte(nil), good...)
		binary.BigEndian.PutUint32(c[lengthPos:], n)
		return reseal(c)
	}
	reserved := append([]byte(nil), good...)
	reserved[reservedPos+1] = 1
	tests := map[string][]byte{
		"empty":                {},
		"magic only":           []byte("TEST"),
		"wrong magic":          reseal(flip(0)),
		"flipped payload byte": flip(HeaderSize + 3),
		"flipped crc":          flip(len(good) - 1),
		"cut short":            good[:len(good)-1],
		"trailing byte":        append(append([]byte(nil), good...), 0),
		"length too long":      withLength(11),
		"length too short":     withLength(9),
		"length huge":          withLength(1 << 31),
		"reserved set":         reseal(reserved),
		"legacy cut to crc":    legacyFrame("TEST", 1, nil)[:9],
		"header only, sealed":  reseal(append(good[:HeaderSize:HeaderSize], 0, 0, 0, 0)),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := testFormat.Decode(in); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Decode(%x): %v, want ErrCorrupt", in, err)
			}
		})
	}
}

func TestWriteReplacesAtomicallyAndReadsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if _, _, err := testFormat.Read(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Read of a missing file: %v, want fs.ErrNotExist", err)
	}
	for _, p := range []string{"first", "second, longer", ""} {
		if err := testFormat.Write(path, []byte(p)); err != nil {
			t.Fatal(err)
		}
		got, v, err := testFormat.Read(path)
		if err != nil || string(got) != p || v != testFormat.Version {
			t.Fatalf("Read: %q v%d %v, want %q", got, v, err, p)
		}
		if _, err := os.Stat(path + TempSuffix); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("temp file left behind: %v", err)
		}
	}
	big := make([]byte, testFormat.MaxPayload+1)
	if err := testFormat.Write(path, big); err != nil {
		t.Fatal(err)
	}
	if _, _, err := testFormat.Read(path); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Read of a file past MaxPayload: %v, want ErrCorrupt", err)
	}
}

// faultyTemp fails its write with err after writing half.
type faultyTemp struct {
	f   *os.File
	err error
}

func (ft faultyTemp) Write(b []byte) (int, error) {
	n, _ := ft.f.Write(b[:len(b)/2])
	return n, ft.err
}
func (ft faultyTemp) Sync() error  { return ft.f.Sync() }
func (ft faultyTemp) Close() error { return ft.f.Close() }

func failTempWrites(t *testing.T, err error) {
	orig := createTemp
	createTemp = func(name string) (tempFile, error) {
		f, ferr := orig(name)
		if ferr != nil {
			return nil, ferr
		}
		return faultyTemp{f.(*os.File), err}, nil
	}
	t.Cleanup(func() { createTemp = orig })
}

func TestWriteOnFullDisk(t *testing.T) {
	enospc := &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}
	eio := &os.PathError{Op: "write", Path: "x", Err: syscall.EIO}
	tests := []struct {
		name     string
		old      []byte // nil: no file
		err      error
		opts     []Option
		wantErr  bool
		wantData string // payload read back after
	}{
		{"full, no option: error, old file kept", testFormat.Encode([]byte("old")), enospc, nil, true, "old"},
		{"full, overwrite: new file", testFormat.Encode([]byte("old")), enospc, []Option{OverwriteWhenFull()}, false, "new!"},
		{"full, overwrite a longer old file", testFormat.Encode([]byte("old and long")), enospc, []Option{OverwriteWhenFull()}, false, "new!"},
		{"full, overwrite a legacy file", legacyFrame("TEST", 1, []byte("legacy")), enospc, []Option{OverwriteWhenFull()}, false, "new!"},
		{"full, overwrite, no old file: error", nil, enospc, []Option{OverwriteWhenFull()}, true, ""},
		{"other error, overwrite: error, old kept", testFormat.Encode([]byte("old")), eio, []Option{OverwriteWhenFull()}, true, "old"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			if tc.old != nil {
				if err := os.WriteFile(path, tc.old, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			failTempWrites(t, tc.err)
			err := testFormat.Write(path, []byte("new!"), tc.opts...)
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, tc.err.(*os.PathError).Err)) {
				t.Fatalf("Write: %v, want error %v", err, tc.wantErr)
			}
			if _, err := os.Stat(path + TempSuffix); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("temp file left behind: %v", err)
			}
			if tc.old == nil {
				return
			}
			p, _, err := testFormat.Read(path)
			if err != nil || string(p) != tc.wantData {
				t.Fatalf("read back %q %v, want %q", p, err, tc.wantData)
			}
		})
	}
}
