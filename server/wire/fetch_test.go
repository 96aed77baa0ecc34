package wire_test

import (
	"bytes"
	"fmt"
	"math/rand"
	"net"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/server/wire"
)

// maxVersion is the highest Fetch version kmsg knows.
var maxVersion = (*kmsg.FetchResponse)(nil).MaxVersion()

// encode runs AppendFetchResponse after prefix and returns the bytes it puts
// on the wire, prefix included, and the number of splices.
func encode(prefix []byte, r *kmsg.FetchResponse) ([]byte, int) {
	dst, splices := wire.AppendFetchResponse(prefix, r, nil)
	var out []byte
	for _, b := range wire.Buffers(dst, splices, nil) {
		out = append(out, b...)
	}
	return out, len(splices)
}

// TestAppendFetchResponseMatchesKmsg is the differential test that guards the
// hand-written encoder: random responses at every version, including -1 and
// two past kmsg's maximum, where kmsg's version conditions still define the
// bytes, must encode exactly as kmsg encodes them.
func TestAppendFetchResponseMatchesKmsg(t *testing.T) {
	n := 400
	if testing.Short() {
		n = 50
	}
	for version := int16(-1); version <= maxVersion+2; version++ {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			rng := rand.New(rand.NewSource(int64(version) + 1))
			for i := range n {
				r := randFetchResponse(rng, version)
				want := r.AppendTo(nil)

				prefix := make([]byte, rng.Intn(9))
				rng.Read(prefix)
				got, nsplices := encode(bytes.Clone(prefix), r)
				if !bytes.HasPrefix(got, prefix) {
					t.Fatalf("response %d: prefix clobbered", i)
				}
				got = got[len(prefix):]
				if !bytes.Equal(got, want) {
					t.Fatalf("response %d: encoding differs from kmsg at byte %d\n got %x\nwant %x",
						i, firstDiff(got, want), head(got), head(want))
				}
				if want := nonEmptyBatches(r); nsplices != want {
					t.Fatalf("response %d: %d splices, want one per non-empty RecordBatches (%d)", i, nsplices, want)
				}
			}
		})
	}
}

// TestAppendFetchResponseRoundTrip checks that kmsg decodes our bytes back
// to the response that went in, as far as the version carries it.
func TestAppendFetchResponseRoundTrip(t *testing.T) {
	for version := int16(0); version <= maxVersion; version++ {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			rng := rand.New(rand.NewSource(1000 + int64(version)))
			for i := range 200 {
				r := randFetchResponse(rng, version)
				b, _ := encode(nil, r)
				got := kmsg.NewPtrFetchResponse()
				got.Version = version
				if err := got.ReadFrom(b); err != nil {
					t.Fatalf("response %d: kmsg cannot decode our bytes: %v", i, err)
				}
				if want := carried(r); !reflect.DeepEqual(got, want) {
					t.Fatalf("response %d: decoded\n%+v\nwant\n%+v", i, got, want)
				}
			}
		})
	}
}

// carried returns what a decoder sees of r at its version: fields the
// version lacks at their defaults, empty arrays that decode as nil as nil.
func carried(r *kmsg.FetchResponse) *kmsg.FetchResponse {
	v := r.Version
	flexible := v >= 12
	c := kmsg.NewPtrFetchResponse()
	c.Version = v
	if v >= 1 {
		c.ThrottleMillis = r.ThrottleMillis
	}
	if v >= 7 {
		c.ErrorCode, c.SessionID = r.ErrorCode, r.SessionID
	}
	for _, t := range r.Topics {
		ct := kmsg.NewFetchResponseTopic()
		if v <= 12 {
			ct.Topic = t.Topic
		} else {
			ct.TopicID = t.TopicID
		}
		for _, p := range t.Partitions {
			cp := kmsg.NewFetchResponseTopicPartition()
			cp.Partition, cp.ErrorCode, cp.HighWatermark = p.Partition, p.ErrorCode, p.HighWatermark
			if v >= 4 {
				cp.LastStableOffset = p.LastStableOffset
				if p.AbortedTransactions != nil {
					cp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
				}
				for _, a := range p.AbortedTransactions {
					a.UnknownTags = flexTags(flexible, a.UnknownTags)
					cp.AbortedTransactions = append(cp.AbortedTransactions, a)
				}
			}
			if v >= 5 {
				cp.LogStartOffset = p.LogStartOffset
			}
			if v >= 11 {
				cp.PreferredReadReplica = p.PreferredReadReplica
			}
			cp.RecordBatches = p.RecordBatches
			if flexible {
				cp.DivergingEpoch, cp.CurrentLeader, cp.SnapshotID = p.DivergingEpoch, p.CurrentLeader, p.SnapshotID
				cp.UnknownTags = p.UnknownTags
			}
			ct.Partitions = append(ct.Partitions, cp)
		}
		ct.UnknownTags = flexTags(flexible, t.UnknownTags)
		c.Topics = append(c.Topics, ct)
	}
	if flexible {
		if len(r.Brokers) > 0 {
			c.Brokers = r.Brokers
		}
		c.UnknownTags = r.UnknownTags
	}
	return c
}

func flexTags(flexible bool, t kmsg.Tags) kmsg.Tags {
	if flexible {
		return t
	}
	return kmsg.Tags{}
}

func nonEmptyBatches(r *kmsg.FetchResponse) int {
	n := 0
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if len(p.RecordBatches) > 0 {
				n++
			}
		}
	}
	return n
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func head(b []byte) []byte { return b[:min(len(b), 256)] }

// fixedResponse is a response shaped like what the broker builds: no
// unknown tags, record bytes in every partition.
func fixedResponse(version int16, topics, partitions int, records []byte) *kmsg.FetchResponse {
	r := kmsg.NewPtrFetchResponse()
	r.Version = version
	r.SessionID = 7
	for t := range topics {
		ft := kmsg.NewFetchResponseTopic()
		ft.Topic = fmt.Sprintf("topic-%d", t)
		ft.TopicID[0] = byte(t + 1)
		for p := range partitions {
			fp := kmsg.NewFetchResponseTopicPartition()
			fp.Partition = int32(p)
			fp.HighWatermark = 1 << 20
			fp.LastStableOffset = 1 << 20
			fp.LogStartOffset = 0
			fp.CurrentLeader.LeaderID = 1
			fp.CurrentLeader.LeaderEpoch = 3
			fp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{{ProducerID: 9, FirstOffset: 100}}
			fp.RecordBatches = records
			ft.Partitions = append(ft.Partitions, fp)
		}
		r.Topics = append(r.Topics, ft)
	}
	if version >= 16 {
		rack := "rack-a"
		r.Brokers = []kmsg.FetchResponseBroker{{NodeID: 1, Host: "broker-1.example", Port: 9092, Rack: &rack}}
	}
	return r
}

func TestAppendFetchResponseAllocs(t *testing.T) {
	records := bytes.Repeat([]byte{0xab}, 4096)
	for _, version := range []int16{0, 4, 11, 12, 13, maxVersion} {
		r := fixedResponse(version, 3, 4, records)
		dst := make([]byte, 0, 4096)
		splices := make([]wire.Splice, 0, 16)
		bufs := make(net.Buffers, 0, 32)
		allocs := testing.AllocsPerRun(100, func() {
			d, s := wire.AppendFetchResponse(dst[:0], r, splices[:0])
			b := wire.Buffers(d, s, bufs[:0])
			if wire.Size(d, s) == 0 || len(b) == 0 {
				t.Fatal("empty encoding")
			}
		})
		if allocs != 0 {
			t.Errorf("v%d: %.1f allocs per encoding, want 0", version, allocs)
		}
	}
}

// TestEndSizedWidens covers a tagged field value of 128 bytes or more,
// whose size needs a second byte and shifts the value.
func TestEndSizedWidens(t *testing.T) {
	for _, n := range []int{126, 127, 128, 129, 16383, 16384} {
		r := fixedResponse(maxVersion, 1, 2, []byte("records"))
		p := &r.Topics[0].Partitions[0]
		p.DivergingEpoch.UnknownTags.Set(5, make([]byte, n))
		p.SnapshotID.EndOffset = 42
		r.Brokers = append(r.Brokers, kmsg.FetchResponseBroker{Host: string(make([]byte, n))})
		got, _ := encode(nil, r)
		if want := r.AppendTo(nil); !bytes.Equal(got, want) {
			t.Errorf("value %d bytes: differs from kmsg at byte %d", n, firstDiff(got, want))
		}
	}
}

func TestBuffers(t *testing.T) {
	a, b := []byte("AA"), []byte("BBB")
	for _, tc := range []struct {
		name    string
		dst     string
		splices []wire.Splice
		want    []string
	}{
		{"none", "xyz", nil, []string{"xyz"}},
		{"empty dst", "", nil, nil},
		{"front", "xyz", []wire.Splice{{0, a}}, []string{"AA", "xyz"}},
		{"middle", "xyz", []wire.Splice{{1, a}, {2, b}}, []string{"x", "AA", "y", "BBB", "z"}},
		{"end", "xyz", []wire.Splice{{3, a}}, []string{"xyz", "AA"}},
		{"same offset", "xy", []wire.Splice{{1, a}, {1, b}}, []string{"x", "AA", "BBB", "y"}},
		{"empty data", "xy", []wire.Splice{{1, nil}, {1, []byte{}}}, []string{"x", "y"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := []byte(tc.dst)
			bufs := wire.Buffers(dst, tc.splices, nil)
			var got []string
			total := 0
			for _, p := range bufs {
				got = append(got, string(p))
				total += len(p)
			}
			// Appending to any piece must not write into the next.
			for _, p := range bufs {
				_ = append(p, '!')
			}
			if string(dst) != tc.dst {
				t.Errorf("appending to a piece changed dst to %q", dst)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("pieces %q, want %q", got, tc.want)
			}
			if size := wire.Size(dst, tc.splices); size != total {
				t.Errorf("Size %d, pieces hold %d", size, total)
			}
		})
	}
}

func TestBuffersPanicsOnBadSplices(t *testing.T) {
	for _, splices := range [][]wire.Splice{
		{{At: 4}},
		{{At: 2}, {At: 1}},
		{{At: -1}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("splices %v: no panic", splices)
				}
			}()
			wire.Buffers([]byte("xyz"), splices, nil)
		}()
	}
}

// TestBuffersWritev sends a framed response over loopback TCP, where
// net.Buffers.WriteTo is writev, and decodes what arrives.
func TestBuffersWritev(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback: %v", err)
	}
	defer ln.Close()

	r := fixedResponse(maxVersion, 2, 3, bytes.Repeat([]byte("batch"), 50_000))
	// Size prefix, then the body; the size is patched once known.
	dst, splices := wire.AppendFetchResponse(make([]byte, 4), r, nil)
	size := wire.Size(dst, splices)
	dst[0], dst[1], dst[2], dst[3] = byte((size-4)>>24), byte((size-4)>>16), byte((size-4)>>8), byte(size-4)
	bufs := wire.Buffers(dst, splices, nil)

	errc := make(chan error, 1)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		n, err := bufs.WriteTo(c)
		if err == nil && n != int64(size) {
			err = fmt.Errorf("wrote %d of %d bytes", n, size)
		}
		errc <- err
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got bytes.Buffer
	if _, err := got.ReadFrom(c); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	if got.Len() != size {
		t.Fatalf("read %d bytes, want %d", got.Len(), size)
	}
	body := got.Bytes()[4:]
	if !bytes.Equal(body, r.AppendTo(nil)) {
		t.Fatal("bytes on the wire differ from kmsg's encoding")
	}
	back := kmsg.NewPtrFetchResponse()
	back.Version = r.Version
	if err := back.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
}

// TestAppendFetchResponseIncrementalShapes: the shapes only an
// incremental fetch session's answer takes (no topics at all, and a topic
// named twice when its answered partitions are not contiguous in the
// session) encode as kmsg encodes them, at every session version.
func TestAppendFetchResponseIncrementalShapes(t *testing.T) {
	part := func(p int32, records []byte) kmsg.FetchResponseTopicPartition {
		sp := kmsg.NewFetchResponseTopicPartition()
		sp.Partition, sp.HighWatermark, sp.LastStableOffset, sp.RecordBatches = p, 10, 10, records
		return sp
	}
	topic := func(name string, parts ...kmsg.FetchResponseTopicPartition) kmsg.FetchResponseTopic {
		t := kmsg.NewFetchResponseTopic()
		t.Topic, t.TopicID, t.Partitions = name, [16]byte{1, 2, 3}, parts
		return t
	}
	shapes := map[string][]kmsg.FetchResponseTopic{
		"nothing new":    nil,
		"empty, not nil": {},
		"a topic twice":  {topic("a", part(0, []byte("xyz"))), topic("b", part(1, []byte{})), topic("a", part(2, []byte("q")))},
	}
	for version := int16(7); version <= maxVersion; version++ {
		for name, topics := range shapes {
			r := kmsg.NewPtrFetchResponse()
			r.Version, r.SessionID, r.Topics = version, 12345, topics
			got, _ := encode(nil, r)
			if want := r.AppendTo(nil); !bytes.Equal(got, want) {
				t.Errorf("v%d %s: differs from kmsg at byte %d", version, name, firstDiff(got, want))
			}
		}
	}
}
