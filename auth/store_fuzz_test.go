package auth

import (
	"slices"
	"testing"
)

// FuzzDecodeACLs: any payload either fails to decode or decodes to valid,
// canonical bindings that survive an encode and decode unchanged. The framing
// around it is fuzzed once, in framedfile.
func FuzzDecodeACLs(f *testing.F) {
	f.Add(encodeACLs([]Binding{
		allow(ResourceTopic, PatternLiteral, "orders", "User:alice", "*", OpRead),
		deny(ResourceGroup, PatternPrefixed, "team-", "User:*", "10.0.0.1", OpAll),
		allow(ResourceCluster, PatternLiteral, ClusterName, "User:admin", "::1", OpAlter),
	}))
	f.Add(encodeACLs(nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		bs, err := decodeACLs(b)
		if err != nil {
			return
		}
		for _, x := range bs {
			if v, err := x.Validate(); err != nil || v != x {
				t.Fatalf("decoded an invalid binding %v: %v", x, err)
			}
		}
		again, err := decodeACLs(encodeACLs(bs))
		if err != nil || !slices.Equal(again, bs) {
			t.Fatalf("bindings changed through encode and decode: %v\n%v\n%v", err, bs, again)
		}
	})
}
