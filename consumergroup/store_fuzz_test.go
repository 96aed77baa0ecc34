package consumergroup

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzApplyRecord feeds arbitrary keys and values of __consumer_offsets to
// the replay decoder: any input is applied or refused with an error, never
// a panic, and what it applies encodes back to what it read.
func FuzzApplyRecord(f *testing.F) {
	om := OffsetAndMetadata{Offset: 42, LeaderEpoch: 3, Metadata: "m", CommitTime: 1700000000000, ExpireTime: -1}
	r := offsetRecord(new([]byte), "g", TopicPartition{"t", 1}, &om)
	f.Add(r.key, r.value)
	f.Add(r.key, []byte(nil))
	v := kmsg.NewGroupMetadataValue()
	v.Version = metadataValueVersion
	v.ProtocolType = "consumer"
	v.Protocol = kmsg.StringPtr("range")
	v.Members = []kmsg.GroupMetadataValueMember{{MemberID: "m", ClientID: "c", Subscription: []byte{1}, Assignment: []byte{2}}}
	f.Add(metadataKey("g"), v.AppendTo(nil))
	f.Add([]byte{0, 9, 1}, []byte{0})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		st := make(loadState)
		if err := st.apply(key, value); err != nil {
			return
		}
		for id, lg := range st {
			for tp, om := range lg.offsets.all() {
				back := offsetRecord(new([]byte), id, tp, &om)
				st2 := make(loadState)
				if err := st2.apply(back.key, back.value); err != nil {
					t.Fatalf("re-encoded offset does not decode: %v", err)
				}
				if got, _ := st2[id].offsets.get(tp); got != om {
					t.Fatalf("round trip: %+v != %+v", got, om)
				}
			}
			if lg.meta != nil {
				// A restored group must be usable: restore never panics.
				g := newGroup(&Coordinator{cfg: testConfig(), logger: testConfig().Logger}, id, 0)
				lg.meta.Members = nil // no session timers in a fuzz run
				g.restore(lg)
			}
		}
	})
}
