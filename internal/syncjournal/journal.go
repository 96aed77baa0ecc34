package syncjournal

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Environment variables of a powerloss build.
const (
	// EnvJournal names the journal file. Unset: nothing is journaled.
	EnvJournal = "TRIBUTARY_TEST_POWERLOSS_JOURNAL"
	// EnvRoot is the directory journaled paths are relative to (the
	// broker's data dir); syncs outside it are not journaled.
	EnvRoot = "TRIBUTARY_TEST_POWERLOSS_ROOT"
)

// Record operations.
const (
	OpFile   = "F" // fsync of a regular file
	OpMapped = "M" // msync of a prefix of a mapped file
	OpDir    = "D" // fsync of a directory
)

// Record is one line of the journal: what one sync made durable.
type Record struct {
	Op   string `json:"op"`
	Path string `json:"path"` // relative to the root, slash-separated; "." is the root
	Ino  uint64 `json:"ino"`
	// Size: for F the file's size and durable prefix, for M the durable
	// prefix.
	Size int64 `json:"size,omitempty"`
	// Entries: for D, every name in the directory and its inode.
	Entries map[string]uint64 `json:"entries,omitempty"`
}

// ErrCorrupt is returned by Parse for a line, other than the last, that
// is not a Record.
var ErrCorrupt = errors.New("syncjournal: corrupt journal")

// maxLine bounds one journal line (a D of a directory with many entries).
const maxLine = 64 << 20

// Parse reads a journal. A last line that does not parse, or has no
// newline, is the torn write of a process killed while journaling: that
// sync never returned, and it is ignored.
func Parse(r io.Reader) ([]Record, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var recs []Record
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return recs, nil // a line without its newline is torn
		}
		if err != nil {
			return recs, fmt.Errorf("syncjournal: read line %d: %w", line, err)
		}
		if len(b) > maxLine {
			return recs, fmt.Errorf("%w: line %d is %d bytes", ErrCorrupt, line, len(b))
		}
		var rec Record
		if err := json.Unmarshal(b, &rec); err != nil || !validOp(rec.Op) {
			if _, perr := br.Peek(1); errors.Is(perr, io.EOF) {
				return recs, nil
			}
			return recs, fmt.Errorf("%w: line %d: %q", ErrCorrupt, line, b)
		}
		recs = append(recs, rec)
	}
}

func validOp(op string) bool { return op == OpFile || op == OpMapped || op == OpDir }
