package cluster

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// fastFenceTTL is a session timeout far above every wait of these tests,
// so a registration that ends in them was ended by the fencer, never by
// its lease lapsing.
const fastFenceTTL = 60 * time.Second

// fastFenceWait bounds how long a fast fence may take here: well under
// fastFenceTTL, with room for a loaded machine.
const fastFenceWait = 15 * time.Second

// fakeBroker stands for a broker process's inter-broker listener.
type fakeBroker struct {
	t  *testing.T
	ln net.Listener

	mu       sync.Mutex
	conns    []net.Conn
	accepted chan struct{} // one send per accepted connection, if room
	closeNew bool          // close each accepted connection at once (an idle timeout)
	done     chan struct{}
}

// newFakeBroker listens on a loopback port; accept says whether it
// accepts connections (a paused process's listener does not, yet the
// kernel completes the handshakes into its backlog).
func newFakeBroker(t *testing.T, accept bool) *fakeBroker {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBroker{t: t, ln: ln, accepted: make(chan struct{}, 16), done: make(chan struct{})}
	t.Cleanup(b.kill)
	if !accept {
		close(b.done)
		return b
	}
	go func() {
		defer close(b.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			if b.closeNew {
				c.Close()
			} else {
				b.conns = append(b.conns, c)
			}
			b.mu.Unlock()
			select {
			case b.accepted <- struct{}{}:
			default:
			}
		}
	}()
	return b
}

func (b *fakeBroker) broker(id int32) Broker {
	a := b.ln.Addr().(*net.TCPAddr)
	return Broker{NodeID: id, Endpoints: []Endpoint{
		{Listener: "CLIENTS", SecurityProtocol: "PLAINTEXT", Host: "127.0.0.1", Port: 1}, // not watched
		{Listener: "INTERNAL", SecurityProtocol: "PLAINTEXT", Host: "127.0.0.1", Port: int32(a.Port)},
	}}
}

// waitAccepted waits for the fencer's watch connection.
func (b *fakeBroker) waitAccepted() {
	b.t.Helper()
	select {
	case <-b.accepted:
	case <-time.After(fastFenceWait):
		b.t.Fatal("the fencer never connected")
	}
}

// kill is a process's death as its peers see it: the listener and
// every connection close at once.
func (b *fakeBroker) kill() {
	b.ln.Close()
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.Close()
	}
	b.conns = nil
}

// waitFences waits until f counts want registrations ended (the count
// follows the revoke's answer, which may come after the watch shows the
// registration gone), and fails if it counts more.
func waitFences(t *testing.T, f *FastFencer, want uint64) {
	t.Helper()
	deadline := time.Now().Add(fastFenceWait)
	for f.Fences() < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := f.Fences(); got != want {
		t.Fatalf("Fences = %d, want %d", got, want)
	}
}

func startTestFencer(t *testing.T, s *EtcdStore, self int32) *FastFencer {
	f := StartFastFencer(FastFenceConfig{Store: s, Self: self, Listener: "INTERNAL", Logger: testLogger(t)})
	t.Cleanup(f.Close)
	return f
}

func TestFastFenceEndsTheRegistrationOfADeadProcessAndItsControllerTerm(t *testing.T) {
	q := newTestQuorum(t, 1)
	q.startAll()
	s := openTestStore(t, q.endpoints(), fastFenceTTL)
	ctx := ctxT(t)
	dead := newFakeBroker(t, true)
	reg, err := s.Register(ctx, dead.broker(2))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	lead, err := reg.Campaign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, s, 5*time.Second, "broker 2 controller", func(s *Snapshot) bool { return s.Controller == 2 })
	f := startTestFencer(t, s, 1)
	dead.waitAccepted()

	start := time.Now()
	dead.kill()
	waitSnapshot(t, s, fastFenceWait, "broker 2 fenced", func(s *Snapshot) bool { return !s.Live(2) && s.Controller == -1 })
	t.Logf("registration ended %v after the process died (lease TTL %v)", time.Since(start), fastFenceTTL)
	waitFenced(t, reg, fastFenceWait, "by the fencer ending it")
	select {
	case <-lead.Lost():
	case <-time.After(fastFenceWait):
		t.Fatal("the controller term outlived its registration")
	}
	waitFences(t, f, 1)
	// The verdict is in once the snapshot dropped the registration: no
	// longer suspected, but a fencing was recent.
	for deadline := time.Now().Add(fastFenceWait); f.Suspected(2) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if f.Suspected(2) || !f.Busy(time.Minute) {
		t.Fatalf("after the fencing: suspected %v, busy %v; want false, true", f.Suspected(2), f.Busy(time.Minute))
	}
}

func TestFastFenceLeavesAPausedOrIdleClosingBrokerRegistered(t *testing.T) {
	for _, tc := range []struct {
		name string
		// accept: the listener accepts; closeNew: it closes each
		// connection at once, as connections.max.idle.ms does.
		accept, closeNew bool
	}{
		{"paused: connections complete but nothing answers", false, false},
		{"frozen after accepting", true, false},
		{"closes every connection it accepts", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newTestQuorum(t, 1)
			q.startAll()
			s := openTestStore(t, q.endpoints(), fastFenceTTL)
			ctx := ctxT(t)
			b := newFakeBroker(t, tc.accept)
			b.mu.Lock()
			b.closeNew = tc.closeNew
			b.mu.Unlock()
			reg, err := s.Register(ctx, b.broker(2))
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Close()
			f := startTestFencer(t, s, 1)
			if tc.accept {
				b.waitAccepted()
				if tc.closeNew {
					b.waitAccepted() // dialled again after the close
				}
			}
			stillRegistered(t, reg, 1500*time.Millisecond, "while live")
			if !s.Snapshot().Live(2) || f.Fences() != 0 {
				t.Fatalf("live %v, fences %d: want registered and none", s.Snapshot().Live(2), f.Fences())
			}
			// A broker whose connection stays open is never in doubt,
			// so no Metadata answer waits for it.
			if !tc.closeNew && (f.Suspected(2) || f.Busy(time.Minute)) {
				t.Fatalf("suspected %v, busy %v: want neither", f.Suspected(2), f.Busy(time.Minute))
			}
		})
	}
}

func TestEndRegistrationSparesANewerIncarnation(t *testing.T) {
	q := newTestQuorum(t, 1)
	q.startAll()
	s := openTestStore(t, q.endpoints(), fastFenceTTL)
	ctx := ctxT(t)
	first, err := s.Register(ctx, testBroker(2))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := s.Register(ctx, testBroker(2)) // restarted before the first lapsed
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	for _, epoch := range []int64{first.Epoch(), second.Epoch() + 1} {
		ended, err := s.EndRegistration(ctx, 2, epoch)
		if err != nil || ended {
			t.Fatalf("EndRegistration at epoch %d = %v, %v; want false, nil", epoch, ended, err)
		}
	}
	stillRegistered(t, second, 300*time.Millisecond, "as the newer incarnation")
	if b := s.Snapshot().Brokers[2]; b.Epoch != second.Epoch() {
		t.Fatalf("registered epoch %d, want %d", b.Epoch, second.Epoch())
	}
	ended, err := s.EndRegistration(ctx, 2, second.Epoch())
	if err != nil || !ended {
		t.Fatalf("EndRegistration of the current epoch = %v, %v; want true, nil", ended, err)
	}
	select {
	case <-second.Fenced():
	case <-time.After(fastFenceWait):
		t.Fatal("the current registration was not ended")
	}
	if ended, err := s.EndRegistration(ctx, 2, second.Epoch()); err != nil || ended {
		t.Fatalf("EndRegistration of an ended registration = %v, %v; want false, nil", ended, err)
	}
}

// The fencer sees a registration end, the broker register again at a new
// address (a restart), and watches that one.
func TestFastFenceFollowsARestartedBroker(t *testing.T) {
	q := newTestQuorum(t, 1)
	q.startAll()
	s := openTestStore(t, q.endpoints(), fastFenceTTL)
	ctx := ctxT(t)
	f := startTestFencer(t, s, 1)
	first := newFakeBroker(t, true)
	reg1, err := s.Register(ctx, first.broker(2))
	if err != nil {
		t.Fatal(err)
	}
	defer reg1.Close()
	first.waitAccepted()
	first.kill()
	waitSnapshot(t, s, fastFenceWait, "broker 2 fenced", func(s *Snapshot) bool { return !s.Live(2) })

	second := newFakeBroker(t, true)
	reg2, err := s.Register(ctx, second.broker(2))
	if err != nil {
		t.Fatal(err)
	}
	defer reg2.Close()
	second.waitAccepted()
	second.kill()
	waitSnapshot(t, s, fastFenceWait, "broker 2 fenced again", func(s *Snapshot) bool { return !s.Live(2) })
	waitFences(t, f, 2)
}

// connEnded peeks without waiting, even while the watch goroutine is
// blocked reading the same connection, and sees the peer's close.
func TestConnEndedSeesThePeersCloseWithoutReading(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	read := make(chan error, 1)
	go func() {
		var b [1]byte
		_, err := c.Read(b[:]) // the watch's blocked read
		read <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if connEnded(c) {
		t.Fatal("an open connection reported ended")
	}
	c.SetReadDeadline(time.Now()) // end the blocked read: the peek must not have needed it
	<-read
	c.SetReadDeadline(time.Time{})
	peer.Close()
	deadline := time.Now().Add(fastFenceWait)
	for !connEnded(c) {
		if time.Now().After(deadline) {
			t.Fatal("the peer's close never seen")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFastFenceRevokesAgainWhileAnEarlierRevokeIsLost: a revoke sent
// before the surviving etcd members noticed their leader's death is
// forwarded to the dead leader and never answered; the fence does not
// wait for it to give up, but sends another meanwhile, and the first
// answered ends the registration (counted and logged once) while the
// lost one is still waiting. The lost one is given up and waited for
// before fence returns.
func TestFastFenceRevokesAgainWhileAnEarlierRevokeIsLost(t *testing.T) {
	var (
		mu           sync.Mutex
		calls        int
		lostReturned bool
		overlapped   bool
	)
	f := &FastFencer{log: testLogger(t), limiter: rate.NewLimiter(rate.Inf, 1)}
	f.endRegistration = func(ctx context.Context, node int32, epoch int64) (bool, error) {
		mu.Lock()
		calls++
		first := calls == 1
		if !first {
			overlapped = overlapped || !lostReturned
		}
		mu.Unlock()
		if first {
			<-ctx.Done() // forwarded to a dead leader: no answer
			mu.Lock()
			lostReturned = true
			mu.Unlock()
			return false, ctx.Err()
		}
		return true, nil
	}
	if !f.fence(context.Background(), peer{node: 2, epoch: 7, addr: "127.0.0.3:9092"}, "test") {
		t.Fatal("fence gave up")
	}
	mu.Lock()
	defer mu.Unlock()
	if !overlapped {
		t.Fatalf("the second revoke was sent only after the lost one gave up (%d calls)", calls)
	}
	if !lostReturned {
		t.Fatal("fence returned before the lost revoke was given up")
	}
	if got := f.Fences(); got != 1 {
		t.Fatalf("Fences() = %d, want 1", got)
	}
}
