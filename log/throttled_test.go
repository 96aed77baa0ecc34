package log_test

import (
	"errors"
	"testing"

	"github.com/tributary-io/tributary/log"
)

func TestThrottledReplicasParseAsKafkaValidatesThem(t *testing.T) {
	for _, tc := range []struct {
		value string
		ok    bool
		in    [][2]int32 // throttled
		out   [][2]int32 // not throttled
	}{
		{value: "", ok: true, out: [][2]int32{{0, 1}}},
		{value: " * ", ok: true, in: [][2]int32{{0, 1}, {7, 3}}},
		{value: "0:1,0:2, 3:4 ", ok: true, in: [][2]int32{{0, 1}, {0, 2}, {3, 4}}, out: [][2]int32{{1, 1}, {3, 1}}},
		{value: "0:1,"},
		{value: "0"},
		{value: "a:1"},
		{value: "0:-1"},
		{value: "*,0:1"},
		{value: "0:1:2"},
	} {
		got, err := log.ParseThrottledReplicas(tc.value)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v, want ok=%v", tc.value, err, tc.ok)
			continue
		}
		for _, r := range tc.in {
			if !got.Contains(r[0], r[1]) {
				t.Errorf("%q: %d:%d not throttled", tc.value, r[0], r[1])
			}
		}
		for _, r := range tc.out {
			if got.Contains(r[0], r[1]) {
				t.Errorf("%q: %d:%d throttled", tc.value, r[0], r[1])
			}
		}
		_, cerr := log.DefaultConfig().With(map[string]string{log.ConfigFollowerReplicationThrottledReplicas: tc.value})
		if (cerr == nil) != tc.ok || (cerr != nil && !errors.Is(cerr, log.ErrInvalidConfig)) {
			t.Errorf("%q as a topic config: %v", tc.value, cerr)
		}
	}
	c, err := log.DefaultConfig().With(map[string]string{log.ConfigLeaderReplicationThrottledReplicas: " 0:1 "})
	if err != nil || c.Map()[log.ConfigLeaderReplicationThrottledReplicas] != "0:1" || c.Map()[log.ConfigFollowerReplicationThrottledReplicas] != "" {
		t.Fatalf("stored %q %v", c.LeaderReplicationThrottledReplicas, err)
	}
}
