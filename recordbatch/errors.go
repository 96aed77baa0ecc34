package recordbatch

import (
	"errors"
	"fmt"
)

// Sentinel errors; every error this package returns is an *Error wrapping one
// of them, so callers branch with errors.Is.
var (
	// ErrCorrupt means the bytes can never form a valid batch: inconsistent
	// header or CRC mismatch.
	ErrCorrupt = errors.New("recordbatch: corrupt batch")
	// ErrTruncated means the input ends before the header or before the end
	// that batchLength announces, and the bytes present are a plausible
	// beginning of a batch.
	ErrTruncated = errors.New("recordbatch: truncated batch")
	// ErrInvalidRecords means a batch whose CRC checks out holds records
	// that disagree with its header (count, framing, offset deltas): the
	// producer built it wrong (Kafka's INVALID_RECORD).
	ErrInvalidRecords = errors.New("recordbatch: records do not match the batch header")
)

// Error says which batch is bad and why.
type Error struct {
	// Pos is the byte position, in the input the caller passed, of the start
	// of the offending batch. For ParseHeader and Validate it is always 0.
	Pos int
	// Reason describes the problem, naming the field involved.
	Reason string
	// Err is ErrCorrupt, ErrTruncated, ErrInvalidRecords, ErrTooLarge or
	// ErrUnsupportedCodec.
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%v at byte %d: %s", e.Err, e.Pos, e.Reason)
}

// Unwrap returns the sentinel in Err.
func (e *Error) Unwrap() error { return e.Err }

// corrupt and truncated build errors. They are only called on failure paths,
// so their allocations never touch the success path.
func corrupt(pos int, format string, args ...any) error {
	return &Error{Pos: pos, Reason: fmt.Sprintf(format, args...), Err: ErrCorrupt}
}

func truncated(pos int, format string, args ...any) error {
	return &Error{Pos: pos, Reason: fmt.Sprintf(format, args...), Err: ErrTruncated}
}

func invalidRecords(pos int, format string, args ...any) error {
	return &Error{Pos: pos, Reason: fmt.Sprintf(format, args...), Err: ErrInvalidRecords}
}
