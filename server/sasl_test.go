package server

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	xscram "github.com/xdg-go/scram"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/auth/authtest"
)

// addUser gives user the password for each SCRAM mechanism.
func addUser(t testing.TB, srv *Server, user, password string) {
	t.Helper()
	var changes []auth.CredentialChange
	for _, m := range []auth.ScramMechanism{auth.ScramSHA256, auth.ScramSHA512} {
		c, err := auth.NewScramCredential(m, password, auth.NewSalt(), auth.MinScramIterations)
		if err != nil {
			t.Fatal(err)
		}
		changes = append(changes, auth.CredentialChange{User: user, Mechanism: m, Credential: c})
	}
	if err := srv.creds.Apply(changes); err != nil {
		t.Fatal(err)
	}
}

// saslBroker serves SASL_PLAINTEXT, SASL_SSL (PLAIN and both SCRAMs) and
// PLAINTEXT, with the user alice.
func saslBroker(t testing.TB, opts ...brokerOpt) (*secureBroker, *authtest.CA) {
	t.Helper()
	ca := authtest.NewCA(t, "test CA")
	server := ca.Server("server")
	b := startSecureBroker(t, "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0", "", map[string]string{
		"ssl.keystore.location":   server.File,
		"sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
	}, opts...)
	addUser(t, b.srv, "alice", "alice-secret")
	return b, ca
}

func mechanisms(user, password string) map[string]sasl.Mechanism {
	return map[string]sasl.Mechanism{
		"PLAIN":         plain.Auth{User: user, Pass: password}.AsMechanism(),
		"SCRAM-SHA-256": scram.Auth{User: user, Pass: password}.AsSha256Mechanism(),
		"SCRAM-SHA-512": scram.Auth{User: user, Pass: password}.AsSha512Mechanism(),
	}
}

// TestSASLFranzGo: franz-go's PLAIN and SCRAM mechanisms produce and
// consume over SASL_PLAINTEXT and SASL_SSL; each success is counted.
func TestSASLFranzGo(t *testing.T) {
	b, ca := saslBroker(t)
	ctx := testContext(t)
	for _, listener := range []string{"SASL_PLAINTEXT", "SASL_SSL"} {
		for name, mech := range mechanisms("alice", "alice-secret") {
			opts := []kgo.Opt{kgo.SASL(mech), kgo.AllowAutoTopicCreation()}
			if listener == "SASL_SSL" {
				opts = append(opts, kgo.DialTLSConfig(ca.ClientConfig(nil)))
			}
			topic := strings.ToLower(listener + "-" + name)
			cl := b.clientOn(listener, append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(name)}).FirstErr(); err != nil {
				t.Fatalf("%s %s produce: %v", listener, name, err)
			}
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil || fs.NumRecords() != 1 {
				t.Fatalf("%s %s consume: %v, %d records", listener, name, err, fs.NumRecords())
			}
			if got := labeledCounter(t, b.srv, "tributary_authentications_total", "listener", listener, "mechanism", name, "result", "success"); got < 1 {
				t.Errorf("%s %s: %v successes counted", listener, name, got)
			}
		}
	}
}

// TestSASLWrongPassword: every mechanism refuses a wrong password with
// SASL_AUTHENTICATION_FAILED, counted per listener and mechanism.
func TestSASLWrongPassword(t *testing.T) {
	b, ca := saslBroker(t)
	ctx := testContext(t)
	for _, listener := range []string{"SASL_PLAINTEXT", "SASL_SSL"} {
		for name, mech := range mechanisms("alice", "wrong") {
			opts := []kgo.Opt{kgo.SASL(mech)}
			if listener == "SASL_SSL" {
				opts = append(opts, kgo.DialTLSConfig(ca.ClientConfig(nil)))
			}
			err := b.clientOn(listener, opts...).Ping(ctx)
			if !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Errorf("%s %s: %v, want SASL_AUTHENTICATION_FAILED", listener, name, err)
			}
			if got := labeledCounter(t, b.srv, "tributary_authentications_total", "listener", listener, "mechanism", name, "result", "failure"); got != 1 {
				t.Errorf("%s %s: %v failures counted, want 1", listener, name, got)
			}
		}
	}
}

// saslRaw is a raw connection to the SASL_PLAINTEXT listener.
func saslRaw(b *secureBroker) *rawConn {
	nc, err := net.DialTimeout("tcp", b.addrs["SASL_PLAINTEXT"], 5*time.Second)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { nc.Close() })
	return &rawConn{t: b.t, nc: nc}
}

func handshakeReq(version int16, mechanism string) *kmsg.SASLHandshakeRequest {
	r := kmsg.NewPtrSASLHandshakeRequest()
	r.Version, r.Mechanism = version, mechanism
	return r
}

func authReq(version int16, token []byte) *kmsg.SASLAuthenticateRequest {
	r := kmsg.NewPtrSASLAuthenticateRequest()
	r.Version, r.SASLAuthBytes = version, token
	return r
}

// expectEOF waits for the broker to close nc: a read ends in EOF or a
// reset with no byte read.
func expectEOF(t testing.TB, nc net.Conn) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open (read %d bytes)", len(got))
	}
	if len(got) > 0 {
		t.Fatalf("broker sent %d more bytes instead of closing", len(got))
	}
}

// TestSASLBadInput: each bad exchange gets a clear error (when there is a
// response to carry one), the connection closed, and the broker keeps
// serving others; nothing is stored.
func TestSASLBadInput(t *testing.T) {
	b, _ := saslBroker(t)
	scramFirst := func(rc *rawConn) (*xscram.ClientConversation, string) {
		cl, _ := xscram.SHA256.NewClientUnprepped("alice", "alice-secret", "")
		conv := cl.NewConversation()
		first, _ := conv.Step("")
		if r := rc.do(handshakeReq(1, "SCRAM-SHA-256")).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
			t.Fatalf("handshake: %d", r.ErrorCode)
		}
		r := rc.do(authReq(2, []byte(first))).(*kmsg.SASLAuthenticateResponse)
		if r.ErrorCode != 0 {
			t.Fatalf("client-first: %d", r.ErrorCode)
		}
		final, err := conv.Step(string(r.SASLAuthBytes))
		if err != nil {
			t.Fatal(err)
		}
		return conv, final
	}
	failed := func(t *testing.T, rc *rawConn, token []byte) {
		t.Helper()
		r := rc.do(authReq(2, token)).(*kmsg.SASLAuthenticateResponse)
		if r.ErrorCode != kerr.SaslAuthenticationFailed.Code || r.ErrorMessage == nil || !strings.Contains(*r.ErrorMessage, "SCRAM-SHA-256") {
			t.Fatalf("error %d %v, want SASL_AUTHENTICATION_FAILED with a message", r.ErrorCode, r.ErrorMessage)
		}
		expectEOF(t, rc.nc)
	}
	var replay string
	for _, tt := range []struct {
		name string
		run  func(t *testing.T, rc *rawConn)
	}{
		{"request before authentication", func(t *testing.T, rc *rawConn) {
			rc.do(kmsg.NewPtrApiVersionsRequest()) // allowed
			m := kmsg.NewPtrMetadataRequest()
			m.Version = 9
			frame := kmsg.NewRequestFormatter().AppendRequest(nil, m, 99)
			rc.nc.Write(frame)
			expectEOF(t, rc.nc)
		}},
		{"authenticate before handshake", func(t *testing.T, rc *rawConn) {
			frame := kmsg.NewRequestFormatter().AppendRequest(nil, authReq(1, []byte("x")), 1)
			rc.nc.Write(frame)
			expectEOF(t, rc.nc)
		}},
		{"unsupported mechanism", func(t *testing.T, rc *rawConn) {
			r := rc.do(handshakeReq(1, "GSSAPI")).(*kmsg.SASLHandshakeResponse)
			if r.ErrorCode != kerr.UnsupportedSaslMechanism.Code || strings.Join(r.SupportedMechanisms, ",") != "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512" {
				t.Fatalf("error %d, mechanisms %v", r.ErrorCode, r.SupportedMechanisms)
			}
			expectEOF(t, rc.nc)
		}},
		{"garbage token", func(t *testing.T, rc *rawConn) {
			rc.do(handshakeReq(1, "SCRAM-SHA-256"))
			failed(t, rc, []byte("\xff\x00garbage,,,="))
		}},
		{"truncated client-final", func(t *testing.T, rc *rawConn) {
			_, final := scramFirst(rc)
			failed(t, rc, []byte(final[:len(final)/2]))
		}},
		{"wrong nonce", func(t *testing.T, rc *rawConn) {
			_, final := scramFirst(rc)
			replay = final
			failed(t, rc, []byte(strings.Replace(final, "r=", "r=0", 1)))
		}},
		{"replayed client-final", func(t *testing.T, rc *rawConn) {
			scramFirst(rc)
			failed(t, rc, []byte(replay))
		}},
		{"100 MB SaslAuthenticate", func(t *testing.T, rc *rawConn) {
			rc.do(handshakeReq(1, "SCRAM-SHA-256"))
			hdr := binary.BigEndian.AppendUint32(nil, 100_000_000)
			hdr = binary.BigEndian.AppendUint16(hdr, saslAuthenticateKey)
			rc.nc.Write(append(hdr, 0, 2, 0, 0, 0, 1))
			expectEOF(t, rc.nc)
		}},
		{"SaslAuthenticate after success", func(t *testing.T, rc *rawConn) {
			conv, final := scramFirst(rc)
			r := rc.do(authReq(2, []byte(final))).(*kmsg.SASLAuthenticateResponse)
			if r.ErrorCode != 0 {
				t.Fatalf("client-final: %d", r.ErrorCode)
			}
			if _, err := conv.Step(string(r.SASLAuthBytes)); err != nil || !conv.Valid() {
				t.Fatalf("server-final: %v", err)
			}
			if r := rc.do(authReq(2, []byte(final))).(*kmsg.SASLAuthenticateResponse); r.ErrorCode != kerr.IllegalSaslState.Code {
				t.Fatalf("a replay on the authenticated connection: error %d, want ILLEGAL_SASL_STATE", r.ErrorCode)
			}
			expectEOF(t, rc.nc)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rc := saslRaw(b)
			rc.t = t
			tt.run(t, rc)
			// Others are unaffected.
			dialProbe(t, b.addrs["PLAINTEXT"]).apiVersions()
		})
	}
	if got := len(b.srv.creds.Users()); got != 1 {
		t.Errorf("%d users stored, want alice only", got)
	}
}

// TestSASLHandshakeV0RawTokens: after a v0 handshake the PLAIN token goes
// as a bare size-prefixed frame, and then requests are served.
func TestSASLHandshakeV0RawTokens(t *testing.T) {
	b, _ := saslBroker(t)
	rc := saslRaw(b)
	if r := rc.do(handshakeReq(0, "PLAIN")).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
		t.Fatalf("handshake: %d", r.ErrorCode)
	}
	token := []byte("\x00alice\x00alice-secret")
	rc.nc.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(token))), token...))
	var size [4]byte
	if _, err := io.ReadFull(rc.nc, size[:]); err != nil || binary.BigEndian.Uint32(size[:]) != 0 {
		t.Fatalf("raw token answer: %v % x", err, size)
	}
	m := kmsg.NewPtrMetadataRequest()
	m.Version = 9
	rc.do(m)

	bad := saslRaw(b)
	bad.do(handshakeReq(0, "PLAIN"))
	token = []byte("\x00alice\x00wrong")
	bad.nc.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(token))), token...))
	expectEOF(t, bad.nc)
}

// TestSASLHandshakeOnPlaintext: SaslHandshake on a PLAINTEXT listener is
// ILLEGAL_SASL_STATE, as in Kafka; SaslAuthenticate also closes.
func TestSASLHandshakeOnPlaintext(t *testing.T) {
	b, _ := saslBroker(t)
	rc := b.raw()
	if r := rc.do(handshakeReq(1, "PLAIN")).(*kmsg.SASLHandshakeResponse); r.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("error %d, want ILLEGAL_SASL_STATE", r.ErrorCode)
	}
	if r := rc.do(authReq(1, []byte("x"))).(*kmsg.SASLAuthenticateResponse); r.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("error %d, want ILLEGAL_SASL_STATE", r.ErrorCode)
	}
	expectEOF(t, rc.nc)
}

// TestSASLReauthenticationPerListener: connections.max.reauth.ms is
// resolved per listener and mechanism as Kafka does:
// listener.name.<l>.<mechanism>.connections.max.reauth.ms over
// listener.name.<l>.connections.max.reauth.ms over the broker's; the
// resolved lifetime is told in SaslAuthenticate and enforced.
func TestSASLReauthenticationPerListener(t *testing.T) {
	settings := map[string]string{
		"sasl.enabled.mechanisms":                                 "PLAIN,SCRAM-SHA-256",
		"listener.name.a.connections.max.reauth.ms":               "60000",
		"listener.name.a.plain.connections.max.reauth.ms":         "700",
		"listener.name.b.scram-sha-256.connections.max.reauth.ms": "0",
	}
	// The properties file accepts the same names, and refuses a
	// mechanism not served or a lifetime that is not milliseconds.
	bs := DefaultBrokerSettings()
	for k, v := range settings {
		if err := bs.Apply(k, v); err != nil {
			t.Fatalf("Apply(%s=%s): %v", k, v, err)
		}
	}
	for _, bad := range [][2]string{
		{"listener.name.a.gssapi.connections.max.reauth.ms", "1000"},
		{"listener.name.a.connections.max.reauth.ms", "-1"},
		{"listener.name.a.plain.connections.max.reauth.ms", "soon"},
	} {
		if err := bs.Apply(bad[0], bad[1]); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("Apply(%s=%s) = %v, want an error naming the setting", bad[0], bad[1], err)
		}
	}

	const brokerWide = 30 * time.Second
	b := startSecureBroker(t, "A://127.0.0.1:0,B://127.0.0.1:0", "A:SASL_PLAINTEXT,B:SASL_PLAINTEXT", settings,
		func(c *Config) { c.ConnectionsMaxReauth = brokerWide })
	addUser(t, b.srv, "alice", "alice-secret")
	dial := func(listener string) *rawConn {
		nc, err := net.DialTimeout("tcp", b.addrs[listener], 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		return &rawConn{t: t, nc: nc}
	}
	// authenticate returns the session lifetime the broker told.
	authenticate := func(rc *rawConn, mechanism string) int64 {
		t.Helper()
		if r := rc.do(handshakeReq(1, mechanism)).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
			t.Fatalf("%s handshake: %d", mechanism, r.ErrorCode)
		}
		if mechanism == "PLAIN" {
			r := rc.do(authReq(1, []byte("\x00alice\x00alice-secret"))).(*kmsg.SASLAuthenticateResponse)
			if r.ErrorCode != 0 {
				t.Fatalf("PLAIN: %d", r.ErrorCode)
			}
			return r.SessionLifetimeMillis
		}
		cl, _ := xscram.SHA256.NewClientUnprepped("alice", "alice-secret", "")
		conv := cl.NewConversation()
		msg, _ := conv.Step("")
		for {
			r := rc.do(authReq(1, []byte(msg))).(*kmsg.SASLAuthenticateResponse)
			if r.ErrorCode != 0 {
				t.Fatalf("%s: %d", mechanism, r.ErrorCode)
			}
			var err error
			if msg, err = conv.Step(string(r.SASLAuthBytes)); err != nil {
				t.Fatalf("%s: %v", mechanism, err)
			}
			if conv.Done() {
				return r.SessionLifetimeMillis
			}
		}
	}
	for _, tc := range []struct {
		listener, mechanism string
		want                time.Duration
	}{
		{"A", "PLAIN", 700 * time.Millisecond},   // the mechanism's own
		{"A", "SCRAM-SHA-256", 60 * time.Second}, // the listener's
		{"B", "PLAIN", brokerWide},               // the broker's
		{"B", "SCRAM-SHA-256", 0},                // the mechanism's own: none
	} {
		if got := authenticate(dial(tc.listener), tc.mechanism); got != tc.want.Milliseconds() {
			t.Errorf("%s %s: session lifetime %d ms, want %d", tc.listener, tc.mechanism, got, tc.want.Milliseconds())
		}
	}

	// A's PLAIN sessions end after 700 ms: a request after that closes
	// the connection, while a SCRAM session on the same listener goes on.
	plainConn, scramConn := dial("A"), dial("A")
	authenticate(plainConn, "PLAIN")
	authenticate(scramConn, "SCRAM-SHA-256")
	time.Sleep(800 * time.Millisecond)
	m := kmsg.NewPtrMetadataRequest()
	m.Version = 9
	scramConn.do(m)
	plainConn.nc.Write(kmsg.NewRequestFormatter().AppendRequest(nil, m, 50))
	expectEOF(t, plainConn.nc)
}

// TestSASLReauthentication: with connections.max.reauth.ms the session
// lifetime is told in SaslAuthenticate v1+, a connection that goes on past
// it without re-authenticating is closed, and franz-go, which
// re-authenticates, keeps working.
func TestSASLReauthentication(t *testing.T) {
	const lifetime = 700 * time.Millisecond
	b, _ := saslBroker(t, func(c *Config) { c.ConnectionsMaxReauth = lifetime })
	rc := saslRaw(b)
	rc.do(handshakeReq(1, "PLAIN"))
	r := rc.do(authReq(1, []byte("\x00alice\x00alice-secret"))).(*kmsg.SASLAuthenticateResponse)
	if r.ErrorCode != 0 || r.SessionLifetimeMillis != lifetime.Milliseconds() {
		t.Fatalf("error %d, session lifetime %d ms, want %d", r.ErrorCode, r.SessionLifetimeMillis, lifetime.Milliseconds())
	}
	m := kmsg.NewPtrMetadataRequest()
	m.Version = 9
	rc.do(m)
	time.Sleep(lifetime + 100*time.Millisecond)
	rc.nc.Write(kmsg.NewRequestFormatter().AppendRequest(nil, m, 50))
	expectEOF(t, rc.nc)

	// Re-authenticating in time keeps the connection, and must stay the
	// same principal.
	addUser(t, b.srv, "bob", "bob-secret")
	rc = saslRaw(b)
	rc.do(handshakeReq(1, "PLAIN"))
	rc.do(authReq(1, []byte("\x00alice\x00alice-secret")))
	rc.do(handshakeReq(1, "PLAIN"))
	if r := rc.do(authReq(1, []byte("\x00alice\x00alice-secret"))).(*kmsg.SASLAuthenticateResponse); r.ErrorCode != 0 {
		t.Fatalf("re-authentication: %d", r.ErrorCode)
	}
	rc.do(m)
	rc.do(handshakeReq(1, "PLAIN"))
	if r := rc.do(authReq(1, []byte("\x00bob\x00bob-secret"))).(*kmsg.SASLAuthenticateResponse); r.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("re-authentication as another user: %d", r.ErrorCode)
	}
	expectEOF(t, rc.nc)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := b.clientOn("SASL_PLAINTEXT", kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism()), kgo.AllowAutoTopicCreation())
	for i := range 4 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "reauth", Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		time.Sleep(lifetime / 2)
	}
}
