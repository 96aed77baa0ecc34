package auth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/auth/authtest"
)

func oauthMessage(authzid, token string) []byte {
	gs2 := "n,,"
	if authzid != "" {
		gs2 = "n,a=" + authzid + ","
	}
	return []byte(gs2 + "\x01auth=Bearer " + token + "\x01\x01")
}

func TestOAuthBearerValidates(t *testing.T) {
	iss := authtest.NewIssuer(t, "k1")
	other := authtest.NewIssuer(t, "k1")
	v, err := auth.NewOAuthBearerValidator(map[string]string{
		auth.OAuthJWKSURL: iss.JWKSURL, auth.OAuthExpectedAudience: "kafka,other",
		auth.OAuthExpectedIssuer: "https://idp.example", auth.OAuthClockSkewSeconds: "5",
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"sub": "alice", "aud": []string{"kafka"}, "iss": "https://idp.example",
			"exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	for _, tt := range []struct {
		name, authzid, token, want string
	}{
		{"valid", "", iss.Token(claims(nil)), "User:alice"},
		{"authzid is the subject", "alice", iss.Token(claims(nil)), "User:alice"},
		{"authzid differs", "bob", iss.Token(claims(nil)), "differs"},
		{"expired", "", iss.Token(claims(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() })), "expired"},
		{"within the skew", "", iss.Token(claims(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Second).Unix() })), "User:alice"},
		{"no exp", "", iss.Token(claims(func(c map[string]any) { delete(c, "exp") })), "no exp"},
		{"unknown key", "", other.Token(claims(nil)), "signed by no key"},
		{"wrong audience", "", iss.Token(claims(func(c map[string]any) { c["aud"] = []string{"web"} })), "audience"},
		{"wrong issuer", "", iss.Token(claims(func(c map[string]any) { c["iss"] = "https://evil.example" })), "issuer"},
		{"no sub", "", iss.Token(claims(func(c map[string]any) { delete(c, "sub") })), `no "sub" claim`},
		{"unsigned", "", authtest.UnsignedToken(t, claims(nil)), "unsigned token"},
		{"garbage", "", "not.a.jwt", "token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := auth.NewOAuthBearerAuthenticator(v)
			out, err := a.Step(oauthMessage(tt.authzid, tt.token))
			if err != nil {
				t.Fatalf("first step: %v", err)
			}
			if a.Done() {
				if got := a.Principal().String(); got != tt.want {
					t.Fatalf("principal %s, want %s", got, tt.want)
				}
				return
			}
			if string(out) != `{"status":"invalid_token"}` {
				t.Fatalf("challenge %q", out)
			}
			_, err = a.Step([]byte{1})
			if !errors.Is(err, auth.ErrAuthenticationFailed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("after the challenge: %v, want %q", err, tt.want)
			}
		})
	}
}

func TestOAuthBearerUnsignedOnlyWhenEnabled(t *testing.T) {
	if _, err := auth.NewOAuthBearerValidator(map[string]string{}); err == nil {
		t.Fatal("a validator without a JWKS or the insecure switch")
	}
	v, err := auth.NewOAuthBearerValidator(map[string]string{auth.OAuthInsecureUnsigned: "true", auth.OAuthSubClaimName: "user"})
	if err != nil {
		t.Fatal(err)
	}
	a := auth.NewOAuthBearerAuthenticator(v)
	a.Step(oauthMessage("", authtest.UnsignedToken(t, map[string]any{"user": "dev", "exp": time.Now().Add(time.Hour).Unix()})))
	if !a.Done() || a.Principal().String() != "User:dev" {
		t.Fatalf("unsigned token with the insecure switch: done %v, %v", a.Done(), a.Principal())
	}
}

func TestParseOAuthBearerMessage(t *testing.T) {
	for _, tt := range []struct{ msg, authzid, token, err string }{
		{"n,,\x01auth=Bearer abc\x01\x01", "", "abc", ""},
		{"n,a=alice,\x01host=h\x01auth=bearer x.y.z\x01port=1\x01\x01", "alice", "x.y.z", ""},
		{"n,,\x01auth=Basic abc\x01\x01", "", "", "Bearer"},
		{"n,,\x01host=h\x01\x01", "", "", "no auth"},
		{"n,,\x01auth=Bearer abc\x01", "", "", "without its 0x01"},
		{"x,,\x01auth=Bearer a\x01\x01", "", "", "gs2"},
		{"garbage", "", "", "0x01"},
		{"", "", "", "0x01"},
	} {
		z, tok, err := auth.ParseOAuthBearerMessage([]byte(tt.msg))
		if tt.err != "" {
			if !errors.Is(err, auth.ErrAuthenticationFailed) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: %v, want %q", tt.msg, err, tt.err)
			}
			continue
		}
		if err != nil || z != tt.authzid || tok != tt.token {
			t.Errorf("%q: %q %q %v", tt.msg, z, tok, err)
		}
	}
}

// FuzzParseOAuthBearerMessage: any message parses or is refused with
// ErrAuthenticationFailed, never a panic.
func FuzzParseOAuthBearerMessage(f *testing.F) {
	for _, s := range []string{"n,,\x01auth=Bearer abc\x01\x01", "n,a=x,\x01\x01", "\x01", "n,,\x01=\x01\x01"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		_, tok, err := auth.ParseOAuthBearerMessage(msg)
		if err == nil && tok == "" {
			t.Fatalf("no token and no error for %q", msg)
		}
		if err != nil && !errors.Is(err, auth.ErrAuthenticationFailed) {
			t.Fatal(err)
		}
	})
}
