package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"time"
)

// Producer ID allocation (Kafka's InitProducerId without transactions).
// IDs are handed out from blocks reserved in meta/producer-ids before any
// ID of the block is used, so no ID is handed out twice, across restarts
// and crashes included: a restart continues after the last reserved block,
// skipping what was left of it. See the package comment for the layout.
const (
	producerIDsFile    = "producer-ids"
	producerIDsMagic   = "TRPI"
	producerIDsVersion = 1 // reader rule: read N and N-1
	producerIDsSize    = 20
	producerIDsCRCPos  = 16
	// producerIDBlock is how many IDs one reservation (one atomic file
	// replace, two fsyncs) covers.
	producerIDBlock = 1000
)

// ErrProducerIDsExhausted: every producer ID has been handed out.
var ErrProducerIDsExhausted = errors.New("log: producer ids exhausted")

var errBadProducerIDs = errors.New("log: unreadable producer id reservation")

func encodeProducerIDs(next int64) []byte {
	b := make([]byte, producerIDsSize)
	copy(b[0:4], producerIDsMagic)
	binary.BigEndian.PutUint16(b[4:6], producerIDsVersion)
	binary.BigEndian.PutUint16(b[6:8], 0) // reserved
	binary.BigEndian.PutUint64(b[8:16], uint64(next))
	binary.BigEndian.PutUint32(b[16:20], crc32.Checksum(b[:producerIDsCRCPos], castagnoli))
	return b
}

func decodeProducerIDs(b []byte) (int64, error) {
	if len(b) != producerIDsSize || string(b[0:4]) != producerIDsMagic {
		return 0, fmt.Errorf("%w: bad size or magic", errBadProducerIDs)
	}
	if v := binary.BigEndian.Uint16(b[4:6]); v != producerIDsVersion {
		return 0, fmt.Errorf("%w: version %d", errBadProducerIDs, v)
	}
	if crc32.Checksum(b[:producerIDsCRCPos], castagnoli) != binary.BigEndian.Uint32(b[16:20]) {
		return 0, fmt.Errorf("%w: crc mismatch", errBadProducerIDs)
	}
	next := int64(binary.BigEndian.Uint64(b[8:16]))
	if binary.BigEndian.Uint16(b[6:8]) != 0 || next < 0 {
		return 0, fmt.Errorf("%w: bad fields", errBadProducerIDs)
	}
	return next, nil
}

func (m *Manager) producerIDsPath() string {
	return filepath.Join(m.dir, metaDir, producerIDsFile)
}

// loadProducerIDs sets where allocation resumes: after the reserved
// block, and after every producer ID some partition knows of (which covers
// a data dir that lost the file). An unreadable file, which atomic
// replacement rules out short of disk damage, makes allocation resume at
// the current Unix time in microseconds: past every ID handed out unless
// more than one ID per microsecond was allocated on average since the IDs
// started, at 0 or at an earlier such fallback.
func (m *Manager) loadProducerIDs() error {
	next := int64(0)
	b, err := os.ReadFile(m.producerIDsPath())
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("log: read %s: %w", m.producerIDsPath(), err)
	default:
		if next, err = decodeProducerIDs(b); err != nil {
			next = time.Now().UnixMicro()
			m.logger.Error("log: producer id reservation unreadable; resuming from the clock",
				"path", m.producerIDsPath(), "err", err, "next_producer_id", next)
		}
	}
	for _, l := range m.logs() {
		for _, p := range l.Producers() {
			if p.ProducerID < math.MaxInt64 {
				next = max(next, p.ProducerID+1)
			}
		}
	}
	m.nextPID, m.pidLimit = next, next
	return nil
}

// AllocateProducerID returns a producer ID never returned before by this
// data dir, for Kafka's InitProducerId. Safe for concurrent use; one call
// in producerIDBlock writes and fsyncs meta/producer-ids before returning.
func (m *Manager) AllocateProducerID() (int64, error) {
	m.pidMu.Lock()
	defer m.pidMu.Unlock()
	select {
	case <-m.stop:
		return 0, ErrClosed
	default:
	}
	if m.nextPID == m.pidLimit {
		if m.pidLimit > math.MaxInt64-producerIDBlock {
			return 0, ErrProducerIDsExhausted
		}
		limit := m.pidLimit + producerIDBlock
		if err := writeFileAtomic(m.producerIDsPath(), encodeProducerIDs(limit)); err != nil {
			return 0, fmt.Errorf("log: reserve producer ids: %w", err)
		}
		m.pidLimit = limit
	}
	id := m.nextPID
	m.nextPID++
	return id, nil
}
