package server

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRequestErrorsLeaveOutProtocolSteps: the MEMBER_ID_REQUIRED of every
// first join and the REBALANCE_IN_PROGRESS of a rebalance are steps of the
// group protocol, not failures, and tributary_request_errors_total leaves
// them out; a real error (a heartbeat of a wrong generation) still counts.
func TestRequestErrorsLeaveOutProtocolSteps(t *testing.T) {
	b := startGroupBroker(t)
	c := rawGroupConn(t, b)
	m, gen := rawJoinSync(t, c, "g-steps", []byte("a")) // through MEMBER_ID_REQUIRED

	// A second member's join starts a rebalance: the first member's
	// heartbeat answers REBALANCE_IN_PROGRESS.
	c2 := rawGroupConn(t, b)
	first := c2.do(joinReq(9, "g-steps", "")).(*kmsg.JoinGroupResponse)
	wantCode(t, "second member's first join", first.ErrorCode, kerr.MemberIDRequired)
	joinReply := make(chan struct{})
	go func() {
		defer close(joinReply)
		c2.do(joinReq(9, "g-steps", first.MemberID))
	}()
	hbCode := func() int16 { return c.do(heartbeatReq("g-steps", m, gen)).(*kmsg.HeartbeatResponse).ErrorCode }
	// The second join reaches the group when its goroutine runs: heartbeat
	// until it has (bounded, so a broken rebalance fails the test).
	code := hbCode()
	for deadline := time.Now().Add(10 * time.Second); code == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		code = hbCode()
	}
	wantCode(t, "heartbeat during the rebalance", code, kerr.RebalanceInProgress)
	wantCode(t, "heartbeat of a wrong generation", c.do(heartbeatReq("g-steps", m, gen+7)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.IllegalGeneration)
	c.do(joinReq(9, "g-steps", m)) // rejoin, so the second join is answered
	<-joinReply

	for _, tt := range []struct {
		api  string
		code *kerr.Error
		want float64
	}{
		{"JoinGroup", kerr.MemberIDRequired, 0},
		{"Heartbeat", kerr.RebalanceInProgress, 0},
		{"Heartbeat", kerr.IllegalGeneration, 1},
	} {
		if got := errorsCounted(t, b, tt.api, tt.code); got != tt.want {
			t.Errorf("tributary_request_errors_total{api=%s,error=%s} = %v, want %v", tt.api, tt.code.Message, got, tt.want)
		}
	}
}
