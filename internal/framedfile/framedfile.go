package framedfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/tributary-io/tributary/internal/syncjournal"
)

const (
	// MagicSize is the width of a format's magic number.
	MagicSize = 4
	// HeaderSize is magic, version, reserved and length.
	HeaderSize = 12
	// TrailerSize is the CRC-32C after the payload.
	TrailerSize = 4
	// Overhead is what framing adds to a payload.
	Overhead = HeaderSize + TrailerSize

	versionPos  = 4
	reservedPos = 6
	lengthPos   = 8

	// legacyMinSize is the smallest file in the legacy frame: magic,
	// version and CRC with an empty body.
	legacyMinSize = MagicSize + 2 + TrailerSize
	// DefaultMaxPayload bounds what Read loads when a Format sets no
	// MaxPayload: a file claiming more is refused before it is read.
	DefaultMaxPayload = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	// ErrCorrupt: the bytes are not a whole, intact frame of the format
	// (wrong magic, size, reserved field or CRC).
	ErrCorrupt = errors.New("framedfile: corrupt file")
	// ErrVersion: an intact-looking frame of a version the reader does
	// not read (newer than N, or older than N-1).
	ErrVersion = errors.New("framedfile: unsupported version")
)

// Format describes one kind of framed file.
type Format struct {
	// Name is what errors call the file ("recovery checkpoint").
	Name string
	// Magic is the file's 4-byte magic number.
	Magic string
	// Version is the version written; Version and Version-1 are read.
	Version uint16
	// LegacyVersion, when not 0, is a version stored in the legacy frame
	// (no reserved and length word, see the package comment). It must be
	// Version or Version-1 to be read at all, and is never written.
	LegacyVersion uint16
	// MaxPayload bounds the payload Read accepts; 0 means
	// DefaultMaxPayload.
	MaxPayload int
}

// reads reports whether version v is one this format reads.
func (f Format) reads(v uint16) bool {
	return v == f.Version || (f.Version > 0 && v == f.Version-1)
}

func (f Format) maxPayload() int {
	if f.MaxPayload > 0 {
		return f.MaxPayload
	}
	return DefaultMaxPayload
}

// Start returns an empty frame of this format, with room for a payload of
// about size bytes: append the payload to it, then Seal it.
func (f Format) Start(size int) []byte {
	if len(f.Magic) != MagicSize {
		panic(fmt.Sprintf("framedfile: %s: magic %q is not %d bytes", f.Name, f.Magic, MagicSize))
	}
	b := make([]byte, HeaderSize, HeaderSize+size+TrailerSize)
	copy(b, f.Magic)
	binary.BigEndian.PutUint16(b[versionPos:], f.Version)
	return b
}

// Seal completes a frame from Start with its payload appended: it sets the
// length and appends the CRC.
func (f Format) Seal(b []byte) []byte {
	binary.BigEndian.PutUint32(b[lengthPos:], uint32(len(b)-HeaderSize))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// Encode returns the frame of payload.
func (f Format) Encode(payload []byte) []byte {
	return f.Seal(append(f.Start(len(payload)), payload...))
}

// Decode checks a whole file's bytes and returns its payload (a sub-slice
// of b) and version. Errors match ErrCorrupt or ErrVersion.
func (f Format) Decode(b []byte) (payload []byte, version uint16, err error) {
	if len(b) < legacyMinSize || string(b[:MagicSize]) != f.Magic {
		return nil, 0, fmt.Errorf("%w: %s: bad size %d or magic", ErrCorrupt, f.Name, len(b))
	}
	version = binary.BigEndian.Uint16(b[versionPos:])
	if !f.reads(version) {
		return nil, version, fmt.Errorf("%w: %s: version %d (this release reads %d and %d)",
			ErrVersion, f.Name, version, f.Version-1, f.Version)
	}
	body := b[:len(b)-TrailerSize]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[len(body):]) {
		return nil, version, fmt.Errorf("%w: %s: crc mismatch", ErrCorrupt, f.Name)
	}
	if f.LegacyVersion != 0 && version == f.LegacyVersion {
		return body[versionPos+2:], version, nil
	}
	if len(b) < Overhead {
		return nil, version, fmt.Errorf("%w: %s: %d bytes, shorter than a frame", ErrCorrupt, f.Name, len(b))
	}
	if r := binary.BigEndian.Uint16(b[reservedPos:]); r != 0 {
		return nil, version, fmt.Errorf("%w: %s: reserved field is %d", ErrCorrupt, f.Name, r)
	}
	if n := binary.BigEndian.Uint32(b[lengthPos:]); uint64(n) != uint64(len(b)-Overhead) {
		return nil, version, fmt.Errorf("%w: %s: length %d in a %d-byte file", ErrCorrupt, f.Name, n, len(b))
	}
	return body[HeaderSize:], version, nil
}

// Read reads and decodes the file at path. A missing file is an error
// matching fs.ErrNotExist; a file that does not decode matches ErrCorrupt
// or ErrVersion; anything else is an I/O error.
func (f Format) Read(path string) (payload []byte, version uint16, err error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("framedfile: read %s: %w", path, err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("framedfile: read %s: %w", path, err)
	}
	if fi.Size() > int64(f.maxPayload()+Overhead) {
		return nil, 0, fmt.Errorf("%w: %s: %s is %d bytes, more than the %d-byte limit",
			ErrCorrupt, f.Name, path, fi.Size(), f.maxPayload()+Overhead)
	}
	b := make([]byte, fi.Size())
	if _, err := io.ReadFull(fh, b); err != nil {
		return nil, 0, fmt.Errorf("framedfile: read %s: %w", path, err)
	}
	payload, version, err = f.Decode(b)
	if err != nil {
		return nil, version, fmt.Errorf("%w (%s)", err, path)
	}
	return payload, version, nil
}

// Option changes how Write replaces a file.
type Option func(*writeOptions)

type writeOptions struct {
	overwriteWhenFull bool
}

// OverwriteWhenFull makes Write overwrite the existing file in place when
// the disk or quota has no room for the temp file (see the package
// comment).
func OverwriteWhenFull() Option { return func(o *writeOptions) { o.overwriteWhenFull = true } }

// Write frames payload and replaces the file at path with it atomically:
// temp file, fsync, rename, fsync dir.
func (f Format) Write(path string, payload []byte, opts ...Option) error {
	return f.WriteFrame(path, f.Encode(payload), opts...)
}

// WriteFrame replaces the file at path with a sealed frame (Start, append,
// Seal), as Write does, without copying the payload.
func (f Format) WriteFrame(path string, frame []byte, opts ...Option) error {
	var o writeOptions
	for _, opt := range opts {
		opt(&o)
	}
	err := WriteAtomic(path, frame)
	if err == nil || !o.overwriteWhenFull || !diskFull(err) {
		return err
	}
	if ierr := overwrite(path, frame); ierr != nil {
		return errors.Join(err, ierr)
	}
	return nil
}

func diskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// overwrite writes frame over the existing file at path, from its start,
// cuts what the old file had beyond it and fsyncs. It creates nothing:
// no file, no name.
func overwrite(path string, frame []byte) error {
	fh, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("framedfile: overwrite %s: %w", path, err)
	}
	_, err = fh.WriteAt(frame, 0)
	if err == nil {
		err = fh.Truncate(int64(len(frame)))
	}
	if err == nil {
		err = syncjournal.Sync(fh)
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("framedfile: overwrite %s: %w", path, err)
	}
	return nil
}

// createTemp opens the temp file of a replace; tests swap it to inject
// write faults.
var createTemp = func(name string) (tempFile, error) {
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
}

// tempFile is what WriteAtomic needs of its temp file.
type tempFile interface {
	Write([]byte) (int, error)
	Sync() error
	Close() error
}

// TempSuffix is appended to a file's name for the temp file of a replace.
const TempSuffix = ".tmp"

// WriteAtomic replaces path with data, framed or not: it writes
// path+TempSuffix, fsyncs it, renames it over path and fsyncs the
// directory. On error the temp file is removed and path is untouched.
func WriteAtomic(path string, data []byte) error {
	tmp := path + TempSuffix
	fh, err := createTemp(tmp)
	if err != nil {
		return fmt.Errorf("framedfile: write %s: %w", path, err)
	}
	_, err = fh.Write(data)
	if err == nil {
		err = syncjournal.Sync(fh)
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = SyncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("framedfile: write %s: %w", path, err)
	}
	return nil
}

// SyncDir fsyncs a directory, making the names created, renamed or
// removed in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = syncjournal.Sync(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
