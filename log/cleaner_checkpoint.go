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
	// CleanerCheckpointFile is the per-partition cleaner checkpoint's name.
	CleanerCheckpointFile = "cleaner-checkpoint"

	cleanerCkptMagic   = "TRCL"
	cleanerCkptVersion = 1  // reader rule: read N and N-1
	cleanerCkptSize    = 20 // see the package comment
	cleanerCkptCRCPos  = 16
)

var errBadCleanerCheckpoint = errors.New("log: unreadable cleaner checkpoint")

func encodeCleanerCheckpoint(cleanedOffset int64) []byte {
	b := make([]byte, cleanerCkptSize)
	copy(b[0:4], cleanerCkptMagic)
	binary.BigEndian.PutUint16(b[4:6], cleanerCkptVersion)
	binary.BigEndian.PutUint64(b[8:16], uint64(cleanedOffset))
	binary.BigEndian.PutUint32(b[16:20], crc32.Checksum(b[:cleanerCkptCRCPos], castagnoli))
	return b
}

func decodeCleanerCheckpoint(b []byte) (int64, error) {
	if len(b) != cleanerCkptSize || string(b[0:4]) != cleanerCkptMagic {
		return 0, fmt.Errorf("%w: bad size or magic", errBadCleanerCheckpoint)
	}
	if v := binary.BigEndian.Uint16(b[4:6]); v != cleanerCkptVersion {
		return 0, fmt.Errorf("%w: version %d", errBadCleanerCheckpoint, v)
	}
	if crc32.Checksum(b[:cleanerCkptCRCPos], castagnoli) != binary.BigEndian.Uint32(b[16:20]) {
		return 0, fmt.Errorf("%w: crc mismatch", errBadCleanerCheckpoint)
	}
	off := int64(binary.BigEndian.Uint64(b[8:16]))
	if off < 0 {
		return 0, fmt.Errorf("%w: negative offset", errBadCleanerCheckpoint)
	}
	return off, nil
}

// readCleanerCheckpoint returns the cleaned offset recorded in dir. present
// is false when there is no file (the log was never compacted); ok is false
// when there is one that cannot be read.
func readCleanerCheckpoint(dir string) (cleanedOffset int64, present, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, CleanerCheckpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, false, nil
	}
	if err != nil {
		return 0, false, false, fmt.Errorf("log: read cleaner checkpoint: %w", err)
	}
	off, err := decodeCleanerCheckpoint(b)
	if err != nil {
		return 0, true, false, nil
	}
	return off, true, true, nil
}

func writeCleanerCheckpoint(dir string, cleanedOffset int64) error {
	return writeFileAtomic(filepath.Join(dir, CleanerCheckpointFile), encodeCleanerCheckpoint(cleanedOffset))
}
