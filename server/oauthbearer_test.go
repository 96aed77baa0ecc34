package server

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/tributary-io/tributary/auth/authtest"
)

// TestOAuthBearerFranzGo: franz-go's OAUTHBEARER with a JWT signed by the
// JWKS's key authenticates as the token's subject; an expired token or
// one signed by an unknown key gets Kafka's invalid_token challenge and
// then SASL_AUTHENTICATION_FAILED; the session lasts no longer than the
// token.
func TestOAuthBearerFranzGo(t *testing.T) {
	iss := authtest.NewIssuer(t, "k1")
	b := startSecureBroker(t, "SASL_PLAINTEXT://127.0.0.1:0", "", map[string]string{
		"sasl.enabled.mechanisms":            "OAUTHBEARER",
		"sasl.oauthbearer.jwks.endpoint.url": iss.JWKSURL,
		"sasl.oauthbearer.expected.audience": "kafka",
	})
	ctx := testContext(t)
	now := time.Now()
	token := func(sub string, exp time.Time) string {
		return iss.Token(map[string]any{"sub": sub, "aud": "kafka", "exp": exp.Unix()})
	}
	cl := b.clientOn("SASL_PLAINTEXT", kgo.SASL(oauth.Auth{Token: token("svc-orders", now.Add(time.Hour))}.AsMechanism()), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "oauth", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("produce with a valid token: %v", err)
	}
	if got := labeledCounter(t, b.srv, "tributary_authentications_total", "mechanism", "OAUTHBEARER", "result", "success"); got < 1 {
		t.Errorf("%v successes counted", got)
	}
	for name, tok := range map[string]string{
		"expired":     token("svc-orders", now.Add(-time.Hour)),
		"unknown key": authtest.NewIssuer(t, "k1").Token(map[string]any{"sub": "x", "aud": "kafka", "exp": now.Add(time.Hour).Unix()}),
		"unsigned":    authtest.UnsignedToken(t, map[string]any{"sub": "x", "exp": now.Add(time.Hour).Unix()}),
	} {
		err := b.clientOn("SASL_PLAINTEXT", kgo.SASL(oauth.Auth{Token: tok}.AsMechanism())).Ping(ctx)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("%s token: %v, want SASL_AUTHENTICATION_FAILED", name, err)
		}
	}

	// The session lifetime is the token's remaining life.
	rc := saslRaw(b)
	rc.do(handshakeReq(1, "OAUTHBEARER"))
	r := rc.do(authReq(1, []byte("n,,\x01auth=Bearer "+token("svc", now.Add(3*time.Second))+"\x01\x01"))).(*kmsg.SASLAuthenticateResponse)
	if r.ErrorCode != 0 || r.SessionLifetimeMillis <= 0 || r.SessionLifetimeMillis > 3000 {
		t.Fatalf("error %d, session lifetime %d ms, want at most the token's 3 s", r.ErrorCode, r.SessionLifetimeMillis)
	}
}

// TestOAuthBearerRefusedTokenToldInvalidToken: a refused OAUTHBEARER token
// fails with SASL_AUTHENTICATION_FAILED whose message is the error the
// broker sent as its challenge, {"status":"invalid_token"}, as Kafka's
// OAuthBearerSaslServer fails the exchange with it (franz-go's kgo suite,
// TestOAuthAuth, checks for it); other mechanisms keep the fixed message.
func TestOAuthBearerRefusedTokenToldInvalidToken(t *testing.T) {
	b := startSecureBroker(t, "SASL_PLAINTEXT://127.0.0.1:0", "", map[string]string{
		"sasl.enabled.mechanisms":                          "OAUTHBEARER,SCRAM-SHA-256",
		"sasl.oauthbearer.insecure.unsigned.tokens.enable": "true",
	})
	ctx := testContext(t)
	now := time.Now()
	unsigned := func(claims map[string]any) string { return authtest.UnsignedToken(t, claims) }
	valid := oauth.Auth{Token: unsigned(map[string]any{"sub": "admin", "exp": now.Add(time.Hour).Unix()})}
	if err := b.clientOn("SASL_PLAINTEXT", kgo.SASL(valid.AsMechanism())).Ping(ctx); err != nil {
		t.Fatalf("valid unsigned token: %v", err)
	}
	const invalidToken = `{"status":"invalid_token"}`
	for _, tc := range []struct {
		name string
		mech sasl.Mechanism
		want string
	}{
		{"expired token", oauth.Auth{Token: unsigned(map[string]any{"sub": "admin", "exp": now.Add(-time.Minute).Unix()})}.AsMechanism(), invalidToken},
		{"token without exp", oauth.Auth{Token: unsigned(map[string]any{"sub": "admin"})}.AsMechanism(), invalidToken},
		{"SCRAM unknown user", scram.Auth{User: "nobody", Pass: "x"}.AsSha256Mechanism(), "due to invalid credentials with SASL mechanism SCRAM-SHA-256"},
	} {
		err := b.clientOn("SASL_PLAINTEXT", kgo.SASL(tc.mech)).Ping(ctx)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.Contains(fmt.Sprint(err), tc.want) {
			t.Errorf("%s: %v, want SASL_AUTHENTICATION_FAILED saying %s", tc.name, err, tc.want)
		}
	}

	// On the wire: the challenge, the client's 0x01, then the failure
	// carrying the challenge as its message.
	rc := saslRaw(b)
	rc.do(handshakeReq(1, "OAUTHBEARER"))
	expired := unsigned(map[string]any{"sub": "admin", "exp": now.Add(-time.Minute).Unix()})
	r := rc.do(authReq(1, []byte("n,,\x01auth=Bearer "+expired+"\x01\x01"))).(*kmsg.SASLAuthenticateResponse)
	if r.ErrorCode != 0 || string(r.SASLAuthBytes) != invalidToken {
		t.Fatalf("first step: error %d, challenge %q, want 0 and %s", r.ErrorCode, r.SASLAuthBytes, invalidToken)
	}
	r = rc.do(authReq(1, []byte{0x01})).(*kmsg.SASLAuthenticateResponse)
	msg := "<none>"
	if r.ErrorMessage != nil {
		msg = *r.ErrorMessage
	}
	if r.ErrorCode != kerr.SaslAuthenticationFailed.Code || msg != invalidToken {
		t.Fatalf("after 0x01: error %d, message %q, want SASL_AUTHENTICATION_FAILED with %s", r.ErrorCode, msg, invalidToken)
	}
}
