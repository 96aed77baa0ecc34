package server

// Connection limits over real sockets: max.connections holds new
// connections in the backlog until one closes (Kafka's acceptor), and
// max.connections.per.ip closes the connection over an address's limit as
// soon as it is accepted, leaving the others serving.

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/consumergroup"
)

// limitQuiet is how long a connection held at max.connections is watched
// for an answer that must not come.
const limitQuiet = 300 * time.Millisecond

// dialProbeFrom is dialProbe from local address ip (any of 127/8 works on
// Linux loopback), so that one test can be several clients.
func dialProbeFrom(t testing.TB, ip, addr string) *probeConn {
	t.Helper()
	d := net.Dialer{Timeout: probeIOTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skipf("dial %s from %s: %v (no 127/8 loopback here?)", addr, ip, err)
	}
	c := &probeConn{t: t, nc: nc.(*net.TCPConn), corr: new(int32)}
	t.Cleanup(func() { nc.Close() })
	return c
}

// expectNoAnswer sends an ApiVersions request and checks that nothing
// comes back within limitQuiet; it returns the correlation id to read the
// answer by later.
func (c *probeConn) expectNoAnswer() int32 {
	c.t.Helper()
	corr := c.nextCorr()
	req := kmsg.NewPtrApiVersionsRequest()
	c.send(probeRequest(req, corr))
	c.quiet()
	return corr
}

// quiet checks that nothing arrives on c within limitQuiet.
func (c *probeConn) quiet() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(limitQuiet))
	var one [1]byte
	n, err := c.nc.Read(one[:])
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("connection over max.connections was served: read %d bytes, err %v", n, err)
	}
}

func TestMaxConnectionsPerIP(t *testing.T) {
	b := startBroker(t, func(c *Config) {
		c.MaxConnectionsPerIP = 2
		c.MaxConnectionsPerIPOverrides = map[string]int{"127.0.0.2": 3, "127.0.0.3": 0}
	})
	rejected := func() float64 {
		return limitMetric(t, b, "tributary_connections_rejected_total", rejectedPerIP)
	}

	first, second := dialProbe(t, b.addr), dialProbe(t, b.addr)
	first.apiVersions()
	second.apiVersions()
	extra := dialProbe(t, b.addr)
	extra.send(probeRequest(kmsg.NewPtrApiVersionsRequest(), 1))
	extra.expectClosed()
	if got := rejected(); got != 1 {
		t.Errorf("rejected connections %v, want 1", got)
	}
	// The address's other connections did not notice.
	first.apiVersions()
	second.apiVersions()

	// Another address has its own count, and its override.
	var others []*probeConn
	for range 3 {
		c := dialProbeFrom(t, "127.0.0.2", b.addr)
		c.apiVersions()
		others = append(others, c)
	}
	dialProbeFrom(t, "127.0.0.2", b.addr).expectClosed()
	dialProbeFrom(t, "127.0.0.3", b.addr).expectClosed() // an override of 0 shuts an address out
	if got := rejected(); got != 3 {
		t.Errorf("rejected connections %v, want 3", got)
	}

	// A closed connection frees its place.
	first.nc.Close()
	waitLimit(t, "forgetting of the closed connection", func() bool {
		b.srv.mu.Lock()
		defer b.srv.mu.Unlock()
		return b.srv.perIP["127.0.0.1"] == 1
	})
	dialProbe(t, b.addr).apiVersions()
	second.apiVersions()
	for _, c := range others {
		c.apiVersions()
	}
	if got := rejected(); got != 3 {
		t.Errorf("rejected connections %v after a place freed, want 3", got)
	}
}

func TestMaxConnections(t *testing.T) {
	const limit = 3
	b := startBroker(t, func(c *Config) { c.MaxConnections = limit })
	conns := make([]*probeConn, limit)
	for i := range conns {
		conns[i] = dialProbe(t, b.addr)
		conns[i].apiVersions()
	}
	// Kafka's behaviour: the connection is not refused, it waits (in
	// the broker, then in the backlog) and is served once one closes.
	waiting := dialProbe(t, b.addr)
	corr := waiting.expectNoAnswer()
	backlog := dialProbe(t, b.addr)
	backlogCorr := backlog.expectNoAnswer()
	if got := limitMetric(t, b, "tributary_connections", ""); got != limit {
		t.Errorf("tributary_connections %v, want %d", got, limit)
	}
	for _, c := range conns {
		c.apiVersions() // the served ones are unaffected
	}

	conns[0].nc.Close()
	waiting.readFrame(corr)
	waiting.apiVersions()
	backlog.quiet() // still one over
	conns[1].nc.Close()
	backlog.readFrame(backlogCorr)
	backlog.apiVersions()

	if got := limitMetric(t, b, "tributary_connections_accept_blocked_total", ""); got < 1 {
		t.Errorf("tributary_connections_accept_blocked_total %v, want at least 1", got)
	}
	if got := limitMetric(t, b, "tributary_connections_accept_blocked_seconds_total", ""); got < limitQuiet.Seconds() {
		t.Errorf("tributary_connections_accept_blocked_seconds_total %v, want at least %v", got, limitQuiet.Seconds())
	}
	if got := limitMetric(t, b, "tributary_connections_rejected_total", rejectedPerIP); got != 0 {
		t.Errorf("rejected connections %v, want 0: max.connections refuses nothing", got)
	}
}

// TestMaxConnectionsClose: a broker closing while its acceptor waits for
// a slot closes the waiting connection and returns.
func TestMaxConnectionsClose(t *testing.T) {
	b := startBroker(t, func(c *Config) { c.MaxConnections = 1; c.ShutdownTimeout = 5 * time.Second })
	dialProbe(t, b.addr).apiVersions()
	waiting := dialProbe(t, b.addr)
	waiting.expectNoAnswer()
	done := make(chan struct{})
	go func() {
		b.stop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(probeIOTimeout):
		t.Fatal("Close hangs while the acceptor waits for a slot")
	}
	waiting.expectClosed()
}

func TestConnectionLimitSettings(t *testing.T) {
	b := DefaultBrokerSettings()
	if err := b.ReadProperties(strings.NewReader(
		"max.connections=1000\nmax.connections.per.ip=10\nmax.connections.per.ip.overrides=10.0.0.7:500, [::1]:20 ,::ffff:192.0.2.1:0\n"), "f"); err != nil {
		t.Fatal(err)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	c := b.Server
	if c.MaxConnections != 1000 || c.MaxConnectionsPerIP != 10 {
		t.Errorf("max.connections %d, max.connections.per.ip %d", c.MaxConnections, c.MaxConnectionsPerIP)
	}
	for ip, want := range map[string]int{"10.0.0.7": 500, "::1": 20, "192.0.2.1": 0, "10.0.0.8": 10} {
		if got := c.maxConnectionsFrom(ip); got != want {
			t.Errorf("limit of %s: %d, want %d", ip, got, want)
		}
	}
	m := b.Map()
	if got := m[BrokerMaxConnectionsPerIPOverrides]; got != "10.0.0.7:500,192.0.2.1:0,::1:20" {
		t.Errorf("overrides render as %q", got)
	}
	// What Map renders reads back the same.
	again := DefaultBrokerSettings()
	if err := again.ReadProperties(strings.NewReader(b.Properties()), "again"); err != nil {
		t.Fatal(err)
	}
	if again.Properties() != b.Properties() {
		t.Errorf("settings do not read back:\n%s\n%s", again.Properties(), b.Properties())
	}
	d := DefaultBrokerSettings()
	if m := d.Map(); m[BrokerMaxConnections] != "2147483647" || m[BrokerMaxConnectionsPerIP] != "2147483647" || m[BrokerMaxConnectionsPerIPOverrides] != "" {
		t.Errorf("defaults are not Kafka's: %q %q %q", m[BrokerMaxConnections], m[BrokerMaxConnectionsPerIP], m[BrokerMaxConnectionsPerIPOverrides])
	}

	for _, tc := range []struct{ lines, want string }{
		{"max.connections=0", "max.connections must be at least 1"},
		{"max.connections.per.ip=-1", "must not be negative"},
		{"max.connections.per.ip=0", "only if max.connections.per.ip.overrides"},
		{"max.connections.per.ip.overrides=broker.example:5", "not an IP address"},
		{"max.connections.per.ip.overrides=10.0.0.1", "want address:limit"},
		{"max.connections.per.ip.overrides=10.0.0.1:many", "invalid syntax"},
		{"max.connections.per.ip.overrides=10.0.0.1:-2", "must not be negative"},
	} {
		s := DefaultBrokerSettings()
		err := s.ReadProperties(strings.NewReader(tc.lines), "f")
		if err == nil {
			err = s.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", tc.lines, err, tc.want)
		}
	}
	// Zero per address is fine once some address is let through.
	s := DefaultBrokerSettings()
	if err := s.ReadProperties(strings.NewReader("max.connections.per.ip=0\nmax.connections.per.ip.overrides=10.0.0.1:5"), "f"); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Error(err)
	}
}

// TestDescribeConfigsConnectionLimits: DescribeConfigs lists the limits
// as a broker sets them.
func TestDescribeConfigsConnectionLimits(t *testing.T) {
	b := startBroker(t, func(c *Config) {
		c.MaxConnectionsPerIP = 50
		c.MaxConnectionsPerIPOverrides = map[string]int{"127.0.0.1": 60}
	})
	c := dialProbe(t, b.addr)
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version = 4
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType = kmsg.ConfigResourceTypeBroker
	r.ResourceName = "0"
	r.ConfigNames = []string{BrokerMaxConnections, BrokerMaxConnectionsPerIP, BrokerMaxConnectionsPerIPOverrides}
	req.Resources = append(req.Resources, r)
	resp := c.roundTrip(req).(*kmsg.DescribeConfigsResponse)
	got := map[string]string{}
	for _, cfg := range resp.Resources[0].Configs {
		got[cfg.Name] = *cfg.Value
	}
	want := map[string]string{
		BrokerMaxConnections:               "2147483647",
		BrokerMaxConnectionsPerIP:          "50",
		BrokerMaxConnectionsPerIPOverrides: "127.0.0.1:60",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// waitLimit polls ok until it holds or probeIOTimeout passes.
func waitLimit(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(probeIOTimeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, probeIOTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// limitMetric is the value of a counter or gauge as the broker exports
// it, the series whose reason label is reason ("": the unlabelled one).
func limitMetric(t testing.TB, b *testBroker, name, reason string) float64 {
	t.Helper()
	mfs, err := b.srv.Registry().Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			label := ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "reason" {
					label = lp.GetValue()
				}
			}
			if label != reason {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s{reason=%q}", name, reason)
	return 0
}

// TestJoinGroupPendingIDsBounded: JoinGroup spam, each with a fresh group
// id and no member id, holds no more than consumergroup.MaxPendingMembers
// member ids (and the groups made for them), however long the session
// timeout they ask for; the newest ids still work, the oldest get
// UNKNOWN_MEMBER_ID as if expired.
func TestJoinGroupPendingIDsBounded(t *testing.T) {
	b := startBroker(t, func(c *Config) { c.Groups.InitialRebalanceDelay = 0 })
	b.waitGroupsLoaded()
	c := dialProbe(t, b.addr)
	const (
		spam    = consumergroup.MaxPendingMembers + 2000
		perSend = 500 // requests written before their answers are read
	)
	join := func(group, member string) *kmsg.JoinGroupRequest {
		req := joinReq(9, group, member)
		req.SessionTimeoutMillis = 300_000 // would keep every id 5 minutes
		return req
	}
	ids := make([]string, spam)
	for i := 0; i < spam; i += perSend {
		var frames []byte
		first := *c.corr + 1
		for j := i; j < min(i+perSend, spam); j++ {
			frames = append(frames, probeRequest(join(fmt.Sprintf("spam-%d", j), ""), c.nextCorr())...)
		}
		c.send(frames)
		for j := i; j < min(i+perSend, spam); j++ {
			body := c.readFrame(first + int32(j-i))
			resp := kmsg.NewPtrJoinGroupResponse()
			resp.Version = 9
			r := kbin.Reader{Src: body}
			kmsg.SkipTags(&r)
			if err := resp.ReadFrom(r.Src); err != nil {
				t.Fatal(err)
			}
			if resp.ErrorCode != kerr.MemberIDRequired.Code {
				t.Fatalf("join %d: %v, want MEMBER_ID_REQUIRED", j, kerr.ErrorForCode(resp.ErrorCode))
			}
			ids[j] = resp.MemberID
		}
	}
	waitLimit(t, "bound on groups made by JoinGroup spam", func() bool {
		gs, err := b.srv.Groups().ListGroups()
		return err == nil && len(gs) <= consumergroup.MaxPendingMembers
	})
	old := c.roundTrip(join("spam-0", ids[0])).(*kmsg.JoinGroupResponse)
	if old.ErrorCode != kerr.UnknownMemberID.Code {
		t.Errorf("join with the oldest id: %v, want UNKNOWN_MEMBER_ID", kerr.ErrorForCode(old.ErrorCode))
	}
	last := spam - 1
	fresh := c.roundTrip(join(fmt.Sprintf("spam-%d", last), ids[last])).(*kmsg.JoinGroupResponse)
	if fresh.ErrorCode != 0 || fresh.LeaderID != ids[last] {
		t.Errorf("join with the newest id: %v, leader %q", kerr.ErrorForCode(fresh.ErrorCode), fresh.LeaderID)
	}
	// A long client id is cut in member ids, so that each pending id
	// costs little whatever the client sends.
	long := kmsg.NewRequestFormatter(kmsg.FormatterClientID(strings.Repeat("c", 30000))).AppendRequest(nil, join("long-client", ""), c.nextCorr())
	c.send(long)
	body := c.readFrame(*c.corr)
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Version = 9
	r := kbin.Reader{Src: body}
	kmsg.SkipTags(&r)
	if err := resp.ReadFrom(r.Src); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.MemberIDRequired.Code || len(resp.MemberID) > 200 {
		t.Errorf("long client id: %v, member id of %d bytes", kerr.ErrorForCode(resp.ErrorCode), len(resp.MemberID))
	}
}

// TestEmptyCommitsLeaveNoGroups: simple commits (generation -1) with fresh
// group ids that store nothing leave no group behind to pile up.
func TestEmptyCommitsLeaveNoGroups(t *testing.T) {
	b := startBroker(t, func(c *Config) { c.AutoCreateTopics = false })
	c := dialProbe(t, b.addr)
	for i := range 100 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version = 8
		req.Group = fmt.Sprintf("empty-commit-%d", i)
		req.Generation = -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "no-such-topic"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset = 1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := c.roundTrip(req).(*kmsg.OffsetCommitResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("commit %d: %v, want UNKNOWN_TOPIC_OR_PARTITION", i, kerr.ErrorForCode(code))
		}
	}
	gs, err := b.srv.Groups().ListGroups()
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 0 {
		t.Errorf("%d groups left by commits that stored nothing, first %+v", len(gs), gs[0])
	}
}
