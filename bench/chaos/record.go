package chaos

import (
	"fmt"

	"github.com/tributary-io/tributary/internal/clustertest"
)

// A record's value is the cluster harness's (clustertest.EncodeValue): it
// names the producer that wrote it and the sequence number that producer
// gave it, so that a record found twice, found out of order or not found
// at all is told apart from any other:
//
//	"ct <producer> <seq> " + filler up to ValueSize bytes
//
// Every produce call takes a fresh sequence number, retries included: a
// record whose produce failed is never produced again under its number.

// ValueSize is the size of every value, so that segments roll at a
// predictable pace.
const ValueSize = 100

// ID is the identity of one produced record.
type ID = clustertest.ID

// EncodeValue returns the value of the record id.
func EncodeValue(id ID) []byte { return clustertest.EncodeValue(id, ValueSize) }

// ParseValue reads the identity back from a value EncodeValue made.
func ParseValue(v []byte) (ID, bool) { return clustertest.ParseValue(v) }

// parseID reads an ID as its String writes it ("p<producer>#<seq>"), as
// a group member reports each record it processed.
func parseID(s string) (ID, bool) {
	var id ID
	var rest string
	if n, err := fmt.Sscanf(s+" end", "p%d#%d %s", &id.Producer, &id.Seq, &rest); n != 3 || err != nil || rest != "end" ||
		id.Producer < 0 || id.Seq < 0 {
		return ID{}, false
	}
	return id, true
}
