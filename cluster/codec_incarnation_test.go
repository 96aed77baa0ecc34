package cluster

import "testing"

// TestBrokerIncarnationSurvivesTheStoreCodec: a registration after a
// lapsed lease stores its process's first broker epoch; a first
// registration stores none and reads back its own epoch (the key's
// create revision), and so does a value from a broker that predates the
// field.
func TestBrokerIncarnationSurvivesTheStoreCodec(t *testing.T) {
	for _, tc := range []struct {
		name        string
		incarnation int64
		epoch       int64
		want        int64
	}{
		{"first registration", 0, 40, 40},
		{"registered again", 12, 40, 12},
		{"impossible: newer than the key", 99, 40, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := Broker{NodeID: 3, Endpoints: []Endpoint{{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: "h", Port: 1}}, Incarnation: tc.incarnation}
			got, err := decodeBroker(keyBrokers+"3", []byte(encodeBroker(b)), tc.epoch)
			if err != nil {
				t.Fatal(err)
			}
			if got.Epoch != tc.epoch || got.Incarnation != tc.want || got.IncarnationEpoch() != tc.want {
				t.Fatalf("decoded epoch %d incarnation %d, want %d and %d", got.Epoch, got.Incarnation, tc.epoch, tc.want)
			}
		})
	}
	if _, err := decodeBroker(keyBrokers+"3", []byte(`{"v":1,"node_id":3,"endpoints":[]}`), 7); err != nil {
		t.Fatalf("a value without incarnation: %v", err)
	}
}
