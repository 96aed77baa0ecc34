package replica

import (
	"testing"
	"time"
)

// TestThrottleLetsThroughTheRateAndGoesIntoDebt pins the bucket's
// arithmetic on a fake clock: a full bucket (one second of the rate)
// allows, a read larger than it still moves whole and puts the bucket in
// debt, which the rate pays back at its pace; no limit always allows,
// and bytes are counted either way.
func TestThrottleLetsThroughTheRateAndGoesIntoDebt(t *testing.T) {
	now := time.Unix(1000, 0)
	th := NewThrottle(1000)
	th.now = func() time.Time { return now }
	th.SetRate(1000) // the bucket is made full at the fake clock's time
	if !th.Allow() || th.Rate() != 1000 {
		t.Fatalf("a full bucket: allow %v rate %d", th.Allow(), th.Rate())
	}
	th.Record(3000) // 1000 in the bucket: 2000 of debt
	if th.Allow() {
		t.Fatal("allowed in debt")
	}
	if d := th.Delay(); d < 2*time.Second || d > 2100*time.Millisecond {
		t.Fatalf("delay %v, want about 2 s to pay 2000 bytes back at 1000/s", d)
	}
	now = now.Add(1500 * time.Millisecond)
	if th.Allow() {
		t.Fatal("allowed before the debt is paid")
	}
	now = now.Add(600 * time.Millisecond)
	if !th.Allow() {
		t.Fatalf("not allowed once paid back: delay %v", th.Delay())
	}
	th.SetRate(0)
	th.Record(1 << 20)
	if !th.Allow() || th.Rate() != 0 || th.Delay() != 0 {
		t.Fatal("no limit must always allow")
	}
	if got := th.Bytes(); got != 3000+1<<20 {
		t.Fatalf("counted %d bytes", got)
	}
}
