package server

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/oauth"

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
