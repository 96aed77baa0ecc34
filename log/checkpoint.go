package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

const (
	// CheckpointFile is the per-partition recovery checkpoint's name.
	CheckpointFile = "recovery-checkpoint"

	checkpointMagic   = "TRCK"
	checkpointVersion = 1  // reader rule: read N and N-1
	checkpointSize    = 32 // see the package comment
	checkpointCRCPos  = 28
	flagCleanShutdown = 1 << 0
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checkpoint is the decoded recovery-checkpoint file.
type checkpoint struct {
	clean          bool
	indexFormat    uint32
	recoveryOffset int64
	logStartOffset int64
}

func encodeCheckpoint(c checkpoint) []byte {
	b := make([]byte, checkpointSize)
	copy(b[0:4], checkpointMagic)
	binary.BigEndian.PutUint16(b[4:6], checkpointVersion)
	var flags uint16
	if c.clean {
		flags |= flagCleanShutdown
	}
	binary.BigEndian.PutUint16(b[6:8], flags)
	binary.BigEndian.PutUint32(b[8:12], c.indexFormat)
	binary.BigEndian.PutUint64(b[12:20], uint64(c.recoveryOffset))
	binary.BigEndian.PutUint64(b[20:28], uint64(c.logStartOffset))
	binary.BigEndian.PutUint32(b[28:32], crc32.Checksum(b[:checkpointCRCPos], castagnoli))
	return b
}

var errBadCheckpoint = errors.New("log: unreadable recovery checkpoint")

func decodeCheckpoint(b []byte) (checkpoint, error) {
	if len(b) != checkpointSize || string(b[0:4]) != checkpointMagic {
		return checkpoint{}, fmt.Errorf("%w: bad size or magic", errBadCheckpoint)
	}
	if v := binary.BigEndian.Uint16(b[4:6]); v != checkpointVersion {
		return checkpoint{}, fmt.Errorf("%w: version %d", errBadCheckpoint, v)
	}
	if crc32.Checksum(b[:checkpointCRCPos], castagnoli) != binary.BigEndian.Uint32(b[28:32]) {
		return checkpoint{}, fmt.Errorf("%w: crc mismatch", errBadCheckpoint)
	}
	c := checkpoint{
		clean:          binary.BigEndian.Uint16(b[6:8])&flagCleanShutdown != 0,
		indexFormat:    binary.BigEndian.Uint32(b[8:12]),
		recoveryOffset: int64(binary.BigEndian.Uint64(b[12:20])),
		logStartOffset: int64(binary.BigEndian.Uint64(b[20:28])),
	}
	if c.recoveryOffset < 0 || c.logStartOffset < 0 {
		return checkpoint{}, fmt.Errorf("%w: negative offset", errBadCheckpoint)
	}
	return c, nil
}

// readCheckpoint returns the checkpoint in dir; ok is false when it is
// missing or unreadable (then recovery scans everything).
func readCheckpoint(dir string) (c checkpoint, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, CheckpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return checkpoint{}, false, nil
	}
	if err != nil {
		return checkpoint{}, false, fmt.Errorf("log: read checkpoint: %w", err)
	}
	c, err = decodeCheckpoint(b)
	if err != nil {
		return checkpoint{}, false, nil
	}
	return c, true, nil
}

func writeCheckpoint(dir string, c checkpoint) error {
	return writeFileAtomic(filepath.Join(dir, CheckpointFile), encodeCheckpoint(c))
}

// writeFileAtomic replaces path with data: temp file, fsync, rename, fsync dir.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("log: write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("log: write %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
