package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/tributary-io/tributary/internal/framedfile"
)

const (
	// CheckpointFile is the per-partition recovery checkpoint's name.
	CheckpointFile = "recovery-checkpoint"

	// checkpointPayloadSize is flags, index format, recovery offset and
	// log start offset; see the package comment. The payload is the same
	// in version 1 (the legacy frame) and version 2.
	checkpointPayloadSize = 22
	// checkpointHWPayloadSize is that followed by the high watermark of
	// a replicated log, flagged by flagHighWatermark (version 2 too: see
	// the package comment for why this is not a version of its own).
	checkpointHWPayloadSize = checkpointPayloadSize + 8
	flagCleanShutdown       = 1 << 0
	flagHighWatermark       = 1 << 1
)

// checkpointFormat frames recovery-checkpoint. Reader rule: read N and N-1
// (version 1 is the frame before package framedfile).
var checkpointFormat = framedfile.Format{
	Name: "recovery checkpoint", Magic: "TRCK", Version: 2, LegacyVersion: 1,
	MaxPayload: checkpointHWPayloadSize,
}

// checkpoint is the decoded recovery-checkpoint file.
type checkpoint struct {
	clean          bool
	indexFormat    uint32
	recoveryOffset int64
	logStartOffset int64
	// highWatermark is a replicated log's high watermark, if hasHW (the
	// 22-byte payload without flagHighWatermark has none).
	highWatermark int64
	hasHW         bool
}

func encodeCheckpoint(c checkpoint) []byte {
	b := checkpointFormat.Start(checkpointHWPayloadSize)
	var flags uint16
	if c.clean {
		flags |= flagCleanShutdown
	}
	if c.hasHW {
		flags |= flagHighWatermark
	}
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint32(b, c.indexFormat)
	b = binary.BigEndian.AppendUint64(b, uint64(c.recoveryOffset))
	b = binary.BigEndian.AppendUint64(b, uint64(c.logStartOffset))
	if c.hasHW {
		b = binary.BigEndian.AppendUint64(b, uint64(c.highWatermark))
	}
	return checkpointFormat.Seal(b)
}

var errBadCheckpoint = errors.New("log: unreadable recovery checkpoint")

func decodeCheckpoint(b []byte) (checkpoint, error) {
	p, _, err := checkpointFormat.Decode(b)
	if err != nil {
		return checkpoint{}, fmt.Errorf("%w: %w", errBadCheckpoint, err)
	}
	return parseCheckpoint(p)
}

// parseCheckpoint decodes a checkpoint's payload, the same in versions 1
// and 2.
func parseCheckpoint(p []byte) (checkpoint, error) {
	if len(p) < 2 {
		return checkpoint{}, fmt.Errorf("%w: %d-byte payload", errBadCheckpoint, len(p))
	}
	flags := binary.BigEndian.Uint16(p[0:2])
	if flags&^(flagCleanShutdown|flagHighWatermark) != 0 {
		return checkpoint{}, fmt.Errorf("%w: unknown flags %#x", errBadCheckpoint, flags)
	}
	size := checkpointPayloadSize
	if flags&flagHighWatermark != 0 {
		size = checkpointHWPayloadSize
	}
	if len(p) != size {
		return checkpoint{}, fmt.Errorf("%w: %d-byte payload with flags %#x", errBadCheckpoint, len(p), flags)
	}
	c := checkpoint{
		clean:          flags&flagCleanShutdown != 0,
		indexFormat:    binary.BigEndian.Uint32(p[2:6]),
		recoveryOffset: int64(binary.BigEndian.Uint64(p[6:14])),
		logStartOffset: int64(binary.BigEndian.Uint64(p[14:22])),
	}
	if flags&flagHighWatermark != 0 {
		c.highWatermark, c.hasHW = int64(binary.BigEndian.Uint64(p[22:30])), true
		if c.highWatermark < 0 {
			return checkpoint{}, fmt.Errorf("%w: negative high watermark", errBadCheckpoint)
		}
	}
	if c.recoveryOffset < 0 || c.logStartOffset < 0 {
		return checkpoint{}, fmt.Errorf("%w: negative offset", errBadCheckpoint)
	}
	return c, nil
}

// readCheckpoint returns the checkpoint in dir; ok is false when it is
// missing or unreadable (then recovery scans everything).
func readCheckpoint(dir string) (c checkpoint, ok bool, err error) {
	p, _, _, ok, err := readFramed(filepath.Join(dir, CheckpointFile), checkpointFormat)
	if !ok || err != nil {
		return checkpoint{}, false, err
	}
	c, err = parseCheckpoint(p)
	return c, err == nil, nil
}

// writeCheckpoint replaces the recovery checkpoint. With no room for the
// temp file of an atomic replace it overwrites the file in place: Open
// must still mark the log open (not clean) before taking writes, or a log
// whose disk filled up could never be opened again to be read. A torn
// overwrite fails the checkpoint's CRC, which costs a full scan at the
// next open, never a wrong recovery point.
func writeCheckpoint(dir string, c checkpoint) error {
	path := filepath.Join(dir, CheckpointFile)
	observeSync(syncOpReplace, path)
	err := checkpointFormat.WriteFrame(path, encodeCheckpoint(c),
		framedfile.OverwriteWhenFull())
	if err != nil {
		return fmt.Errorf("log: write checkpoint: %w", err)
	}
	return nil
}

// readFramed reads the framed file at path. present is false when there
// is no file; ok is false when there is none or it is unreadable
// (corrupt, or a version this release does not read), which is not an
// error: every caller rebuilds what such a file held. The error is for
// I/O.
func readFramed(path string, format framedfile.Format) (payload []byte, version uint16, present, ok bool, err error) {
	p, v, err := format.Read(path)
	switch {
	case err == nil:
		return p, v, true, true, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, 0, false, false, nil
	case errors.Is(err, framedfile.ErrCorrupt), errors.Is(err, framedfile.ErrVersion):
		return nil, v, true, false, nil
	default:
		return nil, 0, true, false, fmt.Errorf("log: %w", err)
	}
}

// writeFileAtomic replaces path with data: temp file, fsync, rename, fsync
// dir (for files that are not framed, such as the topic metadata).
func writeFileAtomic(path string, data []byte) error {
	if err := framedfile.WriteAtomic(path, data); err != nil {
		return fmt.Errorf("log: %w", err)
	}
	return nil
}

func syncDir(dir string) error { return framedfile.SyncDir(dir) }

// syncMadeDirs makes the directories made in dir durable: until dir is
// fsynced, a power loss may drop their names, and everything in them,
// however well their own files were synced.
func syncMadeDirs(dir string) error {
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("log: sync %s: %w", dir, err)
	}
	observeSync(syncOpMkdir, dir)
	return nil
}
