package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/tributary-io/tributary/internal/framedfile"
)

const (
	// CleanerCheckpointFile is the per-partition cleaner checkpoint's name.
	CleanerCheckpointFile = "cleaner-checkpoint"

	// cleanerCkptPayloadSize is the cleaned offset, an i64. Version 1
	// (the legacy frame) put a reserved u16 = 0 before it.
	cleanerCkptPayloadSize = 8
)

// cleanerCkptFormat frames cleaner-checkpoint. Reader rule: read N and N-1.
var cleanerCkptFormat = framedfile.Format{
	Name: "cleaner checkpoint", Magic: "TRCL", Version: 2, LegacyVersion: 1,
	MaxPayload: legacyReserved + cleanerCkptPayloadSize,
}

// legacyReserved is the reserved u16 = 0 that the version-1 payloads of
// the cleaner checkpoint, producer-ids and producer snapshot start with.
const legacyReserved = 2

var errBadCleanerCheckpoint = errors.New("log: unreadable cleaner checkpoint")

// stripLegacyReserved returns a payload without the reserved field that
// version 1 put first, checking that it is 0.
func stripLegacyReserved(p []byte, version, legacy uint16) ([]byte, error) {
	if version != legacy {
		return p, nil
	}
	if len(p) < legacyReserved || binary.BigEndian.Uint16(p) != 0 {
		return nil, errors.New("reserved field is not 0")
	}
	return p[legacyReserved:], nil
}

func encodeCleanerCheckpoint(cleanedOffset int64) []byte {
	b := cleanerCkptFormat.Start(cleanerCkptPayloadSize)
	return cleanerCkptFormat.Seal(binary.BigEndian.AppendUint64(b, uint64(cleanedOffset)))
}

func decodeCleanerCheckpoint(b []byte) (int64, error) {
	p, v, err := cleanerCkptFormat.Decode(b)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errBadCleanerCheckpoint, err)
	}
	return parseCleanerCheckpoint(p, v)
}

func parseCleanerCheckpoint(p []byte, version uint16) (int64, error) {
	p, err := stripLegacyReserved(p, version, cleanerCkptFormat.LegacyVersion)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errBadCleanerCheckpoint, err)
	}
	if len(p) != cleanerCkptPayloadSize {
		return 0, fmt.Errorf("%w: %d-byte payload", errBadCleanerCheckpoint, len(p))
	}
	off := int64(binary.BigEndian.Uint64(p))
	if off < 0 {
		return 0, fmt.Errorf("%w: negative offset", errBadCleanerCheckpoint)
	}
	return off, nil
}

// readCleanerCheckpoint returns the cleaned offset recorded in dir. present
// is false when there is no file (the log was never compacted); ok is false
// when there is one that cannot be read.
func readCleanerCheckpoint(dir string) (cleanedOffset int64, present, ok bool, err error) {
	p, v, present, ok, err := readFramed(filepath.Join(dir, CleanerCheckpointFile), cleanerCkptFormat)
	if !ok || err != nil {
		return 0, present, false, err
	}
	off, err := parseCleanerCheckpoint(p, v)
	if err != nil {
		return 0, true, false, nil
	}
	return off, true, true, nil
}

func writeCleanerCheckpoint(dir string, cleanedOffset int64) error {
	err := cleanerCkptFormat.WriteFrame(filepath.Join(dir, CleanerCheckpointFile), encodeCleanerCheckpoint(cleanedOffset))
	if err != nil {
		return fmt.Errorf("log: write cleaner checkpoint: %w", err)
	}
	return nil
}
