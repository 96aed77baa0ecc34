package clustertest

import (
	"bytes"
	"fmt"
	"strconv"
)

// A record's value names the producer that wrote it and the sequence
// number that producer gave it, so that every record in a log, a poll or
// an acknowledgement is told apart from every other:
//
//	"ct <producer> <seq> " + filler up to the producer's value size
//
// Every produce call takes a fresh sequence number: a record whose
// produce failed is never produced again under its number, so a number
// found twice is a duplicate the broker made.

// valuePrefix starts every value the harness writes.
const valuePrefix = "ct "

// DefaultValueSize is the size of a value when the producer names none.
const DefaultValueSize = 64

// ID is the identity of one produced record.
type ID struct {
	Producer int
	Seq      int64
}

func (id ID) String() string { return fmt.Sprintf("p%d#%d", id.Producer, id.Seq) }

// EncodeValue returns the value of the record id, padded to size bytes
// (never shorter than the identity itself).
func EncodeValue(id ID, size int) []byte {
	b := make([]byte, 0, max(size, 32))
	b = append(b, valuePrefix...)
	b = strconv.AppendInt(b, int64(id.Producer), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, id.Seq, 10)
	b = append(b, ' ')
	for len(b) < size {
		b = append(b, 'x')
	}
	return b
}

// ParseValue reads the identity back from a value EncodeValue made; ok is
// false for any other value.
func ParseValue(v []byte) (id ID, ok bool) {
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
