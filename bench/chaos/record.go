package chaos

import (
	"bytes"
	"fmt"
	"strconv"
)

// A record's value names the producer that wrote it and the sequence
// number that producer gave it, so that a record found twice, found out of
// order or not found at all is told apart from any other:
//
//	"chaos <producer> <seq> " + filler up to ValueSize bytes
//
// Every produce call takes a fresh sequence number, retries included: a
// record whose produce failed is never produced again under its number.

// valuePrefix starts every value the harness writes.
const valuePrefix = "chaos "

// ValueSize is the size of every value, so that segments roll at a
// predictable pace.
const ValueSize = 100

// ID is the identity of one produced record.
type ID struct {
	Producer int
	Seq      int64
}

func (id ID) String() string { return fmt.Sprintf("%d/%d", id.Producer, id.Seq) }

// EncodeValue returns the value of the record id.
func EncodeValue(id ID) []byte {
	b := make([]byte, 0, ValueSize)
	b = append(b, valuePrefix...)
	b = strconv.AppendInt(b, int64(id.Producer), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, id.Seq, 10)
	b = append(b, ' ')
	for len(b) < ValueSize {
		b = append(b, 'x')
	}
	return b
}

// ParseValue reads the identity back from a value EncodeValue made.
func ParseValue(v []byte) (ID, bool) {
	rest, ok := bytes.CutPrefix(v, []byte(valuePrefix))
	if !ok {
		return ID{}, false
	}
	f := bytes.SplitN(rest, []byte{' '}, 3)
	if len(f) != 3 {
		return ID{}, false
	}
	p, err1 := strconv.Atoi(string(f[0]))
	s, err2 := strconv.ParseInt(string(f[1]), 10, 64)
	if err1 != nil || err2 != nil || p < 0 || s < 0 {
		return ID{}, false
	}
	return ID{Producer: p, Seq: s}, true
}

// parseID reads an ID as String writes it.
func parseID(s string) (ID, bool) {
	var id ID
	if n, err := fmt.Sscanf(s, "%d/%d", &id.Producer, &id.Seq); n != 2 || err != nil {
		return ID{}, false
	}
	return id, true
}
