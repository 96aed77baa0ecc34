package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"time"

	"github.com/tributary-io/tributary/internal/framedfile"
)

// Producer ID allocation (Kafka's InitProducerId without transactions).
// IDs are handed out from blocks reserved in meta/producer-ids before any
// ID of the block is used, so no ID is handed out twice, across restarts
// and crashes included: a restart continues after the last reserved block,
// skipping what was left of it. See the package comment for the layout.
const (
	producerIDsFile = "producer-ids"
	// producerIDsPayloadSize is the next producer ID, an i64. Version 1
	// (the legacy frame) put a reserved u16 = 0 before it.
	producerIDsPayloadSize = 8
	// producerIDBlock is how many IDs one reservation (one atomic file
	// replace, two fsyncs) covers.
	producerIDBlock = 1000
)

// producerIDsFormat frames meta/producer-ids. Reader rule: read N and N-1.
var producerIDsFormat = framedfile.Format{
	Name: "producer id reservation", Magic: "TRPI", Version: 2, LegacyVersion: 1,
	MaxPayload: legacyReserved + producerIDsPayloadSize,
}

// ErrProducerIDsExhausted: every producer ID has been handed out.
var ErrProducerIDsExhausted = errors.New("log: producer ids exhausted")

// ErrProducerIDBlockUnavailable: the Manager has no producer ID left and
// Options.ProducerIDBlocks gave it no new block (the cluster's metadata
// quorum is unreachable, or answered a block that overlaps one it gave
// before). Retriable: the next call fetches again.
var ErrProducerIDBlockUnavailable = errors.New("log: no producer id block available")

var errBadProducerIDs = errors.New("log: unreadable producer id reservation")

func encodeProducerIDs(next int64) []byte {
	b := producerIDsFormat.Start(producerIDsPayloadSize)
	return producerIDsFormat.Seal(binary.BigEndian.AppendUint64(b, uint64(next)))
}

func decodeProducerIDs(b []byte) (int64, error) {
	p, v, err := producerIDsFormat.Decode(b)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errBadProducerIDs, err)
	}
	return parseProducerIDs(p, v)
}

func parseProducerIDs(p []byte, version uint16) (int64, error) {
	p, err := stripLegacyReserved(p, version, producerIDsFormat.LegacyVersion)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errBadProducerIDs, err)
	}
	if len(p) != producerIDsPayloadSize {
		return 0, fmt.Errorf("%w: %d-byte payload", errBadProducerIDs, len(p))
	}
	next := int64(binary.BigEndian.Uint64(p))
	if next < 0 {
		return 0, fmt.Errorf("%w: negative next producer id", errBadProducerIDs)
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
	next, err := m.localProducerIDsEnd()
	if err != nil {
		return err
	}
	m.nextPID, m.pidLimit = next, next
	return nil
}

// LocalProducerIDsEnd is where a single broker's producer ID allocation
// resumes on this data dir (meta/producer-ids, and past every producer
// ID its partitions' producer state holds): no producer ID at or above
// it was handed out from this data dir. A single broker's data dir that
// becomes a cluster member moves the cluster's counter there, so that no
// new producer is given the ID of one whose batches the partitions still
// remember (server's cluster migration).
func (m *Manager) LocalProducerIDsEnd() (int64, error) {
	return m.localProducerIDsEnd()
}

func (m *Manager) localProducerIDsEnd() (int64, error) {
	next := int64(0)
	p, v, err := producerIDsFormat.Read(m.producerIDsPath())
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil && !errors.Is(err, framedfile.ErrCorrupt) && !errors.Is(err, framedfile.ErrVersion):
		return 0, fmt.Errorf("log: %w", err)
	default:
		if err == nil {
			next, err = parseProducerIDs(p, v)
		}
		if err != nil {
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
	return next, nil
}

// AllocateProducerID returns a producer ID never returned before by this
// data dir, for Kafka's InitProducerId. Safe for concurrent use; one call
// in producerIDBlock writes and fsyncs meta/producer-ids before returning.
// With Options.ProducerIDBlocks, the ID is one no broker of the cluster
// was given before (see allocateFromBlocks).
func (m *Manager) AllocateProducerID() (int64, error) {
	m.pidMu.Lock()
	defer m.pidMu.Unlock()
	if m.opts.ProducerIDBlocks != nil {
		return m.allocateFromBlocks()
	}
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
		if err := producerIDsFormat.WriteFrame(m.producerIDsPath(), encodeProducerIDs(limit)); err != nil {
			return 0, fmt.Errorf("log: reserve producer ids: %w", err)
		}
		m.pidLimit = limit
	}
	id := m.nextPID
	m.nextPID++
	return id, nil
}
