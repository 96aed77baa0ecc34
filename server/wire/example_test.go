package wire_test

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/server/wire"
)

// A whole response frame: size prefix and response header in dst ahead of
// the body, the size patched once the spliced total is known, then one
// WriteTo (writev on a TCP connection).
func Example() {
	segment := []byte("...record batches in a segment mapping...")

	r := kmsg.NewPtrFetchResponse()
	r.Version = 16
	t := kmsg.NewFetchResponseTopic()
	t.TopicID = [16]byte{1}
	p := kmsg.NewFetchResponseTopicPartition()
	p.HighWatermark = 42
	p.RecordBatches = segment[3:39]
	t.Partitions = append(t.Partitions, p)
	r.Topics = append(r.Topics, t)

	const correlationID = 7
	dst := make([]byte, 4, 256) // size, patched below
	dst = binary.BigEndian.AppendUint32(dst, correlationID)
	dst = append(dst, 0) // flexible response header: no tags
	dst, splices := wire.AppendFetchResponse(dst, r, nil)
	size := wire.Size(dst, splices)
	binary.BigEndian.PutUint32(dst, uint32(size-4))

	var conn bytes.Buffer // a *net.TCPConn in the server
	bufs := wire.Buffers(dst, splices, nil)
	if _, err := bufs.WriteTo(&conn); err != nil {
		panic(err)
	}

	body := conn.Bytes()[4+4+1:]
	fmt.Println(len(splices), "splice,", size, "bytes, same as kmsg:", bytes.Equal(body, r.AppendTo(nil)))
	// Output: 1 splice, 112 bytes, same as kmsg: true
}
