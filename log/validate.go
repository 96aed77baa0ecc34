package log

import (
	"errors"
	"fmt"

	"github.com/tributary-io/tributary/recordbatch"
)

// The one rule for a batch's validity: every append (Append,
// AppendBatches, AppendProduced, a follower's append) and the produce
// path's check before it go through validateBatches.

var (
	// ErrInvalidRecord: a batch whose CRC holds but whose records disagree
	// with its header, or one its writer may not write (a client's
	// control batch, more than one batch in a produce): the writer built
	// it so, a retry cannot help (Kafka's INVALID_RECORD).
	ErrInvalidRecord = errors.New("log: invalid record batch")
	// ErrTransactional: a client's transactional batch. The log keeps no
	// last stable offset nor aborted-transaction index, so it cannot
	// store one (Kafka's INVALID_TXN_STATE to the producer).
	ErrTransactional = errors.New("log: transactional batches are not supported")
)

// Writer is who built the batches of an append; it decides what
// ValidateBatches checks beyond the rules every batch passes (a header
// that parses, max.message.bytes, sane producer fields).
type Writer uint8

const (
	// WriterBroker: batches the broker built itself (group offsets, a
	// re-encoding for compression.type, tools): header and CRC-32C, and
	// in a compacted log every record's key (decompressing).
	WriterBroker Writer = iota
	// WriterProducer: one partition's records of a client's produce
	// request: exactly one batch (produce v3+), neither a control batch
	// nor a transactional one, its records read whole, decompressed if
	// need be, and matching its header (recordbatch.ValidateProduced),
	// and in a compacted log every record with a key.
	WriterProducer
	// WriterLeader: a follower's append of its leader's batches, which
	// keep their offsets: any number of batches, control and
	// transactional ones included (a cleaned batch may have gaps between
	// its records' offsets), each with its header and CRC-32C checked,
	// and its records not read: the leader read them whole when it took
	// the batch, and the CRC covers every byte after it, so a batch whose
	// CRC holds is the one the leader validated (Kafka's follower does
	// not decompress either). max.message.bytes and the compacted key
	// rule applied when the leader took them; Kafka's follower skips them
	// too, or a follower whose config differs could never catch up.
	WriterLeader
)

// Validated is what ValidateBatches found in an append's batches.
type Validated struct {
	Records int64 // records in all the batches
	WithPID bool  // some batch carries a producer ID (idempotence state)
}

// ValidateBatches checks b, one or more whole batches, as an append of
// writer w to this log must be checked, with the log's current
// max.message.bytes and cleanup.policy, decompressing at most
// decompressLimit bytes of a batch's records. It assigns nothing. Its
// errors wrap one of: ErrCorruptBatch (Kafka's CORRUPT_MESSAGE: a header
// or CRC that does not check out, bytes damaged on the way),
// ErrInvalidRecord (INVALID_RECORD), ErrMissingKey (INVALID_RECORD),
// ErrMessageTooLarge (MESSAGE_TOO_LARGE: over max.message.bytes, or
// records decompressing past decompressLimit) and ErrTransactional
// (INVALID_TXN_STATE); the recordbatch error, if any, is wrapped too.
// The checks run in that order of precedence for a client's batch, so a
// damaged batch is never blamed on its producer.
func (l *Log) ValidateBatches(b []byte, w Writer, decompressLimit int) (Validated, error) {
	return validateBatches(b, l.cfg.Load(), w, decompressLimit, false)
}

// validateBatches is ValidateBatches with cfg. recordsChecked: the caller
// has just run ValidateBatches on b (AppendProduced), so its CRC,
// records and keys are not read again; the header rules are.
func validateBatches(b []byte, cfg *Config, w Writer, decompressLimit int, recordsChecked bool) (v Validated, err error) {
	if len(b) == 0 {
		return v, fmt.Errorf("%w: empty append", ErrCorruptBatch)
	}
	for p := 0; p < len(b); {
		h, err := validateBatch(b[p:], cfg, w, decompressLimit, recordsChecked)
		if err != nil {
			return Validated{}, fmt.Errorf("batch %d bytes into the append: %w", p, err)
		}
		if sequenced(&h) {
			v.WithPID = true
		}
		v.Records += int64(h.LastOffsetDelta) + 1
		p += h.Size()
	}
	return v, nil
}

// validateBatch checks the batch at the start of b (b may hold more).
func validateBatch(b []byte, cfg *Config, w Writer, limit int, recordsChecked bool) (recordbatch.Header, error) {
	h, err := recordbatch.ParseHeader(b)
	if err != nil {
		return h, fmt.Errorf("%w: %w", ErrCorruptBatch, err)
	}
	if w == WriterProducer {
		switch {
		case h.Size() != len(b):
			// Kafka: produce v3+ carries exactly one batch per partition.
			return h, fmt.Errorf("%w: produce requests must carry exactly one record batch per partition", ErrInvalidRecord)
		case h.Control():
			// Control batches are the broker's own transaction markers.
			return h, fmt.Errorf("%w: clients may not produce control batches", ErrInvalidRecord)
		case h.Transactional():
			return h, fmt.Errorf("%w: producer %d", ErrTransactional, h.ProducerID)
		}
	}
	batch := b[:h.Size()]
	if !recordsChecked {
		if err := checkRecords(batch, w, limit); err != nil {
			return h, err
		}
	}
	if w != WriterLeader && h.Size() > cfg.MaxMessageBytes {
		return h, fmt.Errorf("%w: batch of %d bytes, max.message.bytes is %d", ErrMessageTooLarge, h.Size(), cfg.MaxMessageBytes)
	}
	if !recordsChecked && w != WriterLeader && cfg.Compacted() && !h.Control() {
		missing, err := recordbatch.HasNullKey(batch, limit)
		if err != nil {
			return h, fmt.Errorf("%w: %w", ErrCorruptBatch, err)
		}
		if missing {
			return h, ErrMissingKey
		}
	}
	if sequenced(&h) && (h.BaseSequence < 0 || h.ProducerEpoch < 0) {
		return h, fmt.Errorf("%w: producer %d with epoch %d and base sequence %d",
			ErrCorruptBatch, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
	}
	return h, nil
}

// checkRecords checks the CRC of batch and, for a producer's
// batch, its records.
func checkRecords(batch []byte, w Writer, limit int) error {
	if w != WriterProducer {
		if _, err := recordbatch.Validate(batch); err != nil {
			return fmt.Errorf("%w: %w", ErrCorruptBatch, err)
		}
		return nil
	}
	if _, err := recordbatch.ValidateProduced(batch, limit); err != nil {
		return recordsErr(err, ErrCorruptBatch)
	}
	return nil
}

// recordsErr wraps a recordbatch error about a batch's records in this
// package's sentinel: ErrMessageTooLarge past the decompression limit,
// ErrInvalidRecord for records that disagree with a header whose CRC
// holds, other otherwise.
func recordsErr(err, other error) error {
	switch {
	case errors.Is(err, recordbatch.ErrTooLarge):
		return fmt.Errorf("%w: records decompress past the limit: %w", ErrMessageTooLarge, err)
	case errors.Is(err, recordbatch.ErrInvalidRecords):
		return fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	return fmt.Errorf("%w: %w", other, err)
}
