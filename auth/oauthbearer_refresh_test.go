package auth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/auth/authtest"
)

// jwksServer serves the keys of the issuers it is set to, counting
// fetches; down makes it answer 503.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    []byte
	down    bool
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T) *jwksServer {
	s := &jwksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(t *testing.T, down bool, issuers ...*authtest.Issuer) {
	var all jose.JSONWebKeySet
	for _, iss := range issuers {
		b, err := os.ReadFile(iss.JWKSFile)
		if err != nil {
			t.Fatal(err)
		}
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(b, &set); err != nil {
			t.Fatal(err)
		}
		all.Keys = append(all.Keys, set.Keys...)
	}
	b, err := json.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.body, s.down = b, down
	s.mu.Unlock()
}

// TestOAuthBearerJWKSRefresh: the JWKS is fetched again once it is older
// than sasl.oauthbearer.jwks.endpoint.refresh.ms (a removed key stops
// working) and when a token names a key id it lacks (a new key works),
// at most once per 10 s however many tokens ask; an endpoint that is
// down leaves the keys there were.
func TestOAuthBearerJWKSRefresh(t *testing.T) {
	k1, k2, k3 := authtest.NewIssuer(t, "k1"), authtest.NewIssuer(t, "k2"), authtest.NewIssuer(t, "k3")
	srv := newJWKSServer(t)
	srv.serve(t, false, k1)
	v, err := auth.NewOAuthBearerValidator(map[string]string{auth.OAuthJWKSURL: srv.URL, auth.OAuthJWKSRefreshMs: "60000"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	claims := map[string]any{"sub": "alice", "exp": start.Add(48 * time.Hour).Unix()}
	tok1, tok2, tok3 := k1.Token(claims), k2.Token(claims), k3.Token(claims)
	check := func(at time.Duration, token string, ok bool, fetches int32) {
		t.Helper()
		_, _, err := v.Validate(token, start.Add(at))
		if (err == nil) != ok {
			t.Fatalf("at %v: Validate: %v, want ok=%v", at, err, ok)
		}
		if got := srv.fetches.Load(); got != fetches {
			t.Fatalf("at %v: %d fetches of the JWKS, want %d", at, got, fetches)
		}
	}
	check(0, tok1, true, 1) // the fetch at start

	// k1 rotated out for k2: k1 tokens work until the keys are a
	// refresh period old, then not.
	srv.serve(t, false, k2)
	check(59*time.Second, tok1, true, 1)
	check(61*time.Second, tok1, false, 2)
	check(62*time.Second, tok2, true, 2)

	// k3 added: a token naming it fetches again, but not within 10 s of
	// the last fetch, however many ask.
	srv.serve(t, false, k2, k3)
	for i := range 50 {
		check(65*time.Second+time.Duration(i)*time.Millisecond, tok3, false, 2)
	}
	check(72*time.Second, tok3, true, 3)
	check(73*time.Second, tok1, false, 3) // unknown again: rate-limited

	// The endpoint down at the next refresh: the keys there were stay.
	srv.serve(t, true)
	check(72*time.Second+61*time.Second, tok2, true, 4)
	check(72*time.Second+62*time.Second, tok3, true, 4)
	srv.serve(t, false, k2)
	check(72*time.Second+72*time.Second, tok3, false, 5)
}

// TestOAuthBearerJWKSRefreshSetting: the refresh period is milliseconds,
// more than 0.
func TestOAuthBearerJWKSRefreshSetting(t *testing.T) {
	for _, bad := range []string{"0", "-5", "soon"} {
		if err := auth.CheckSetting(auth.OAuthJWKSRefreshMs, bad); err == nil || !strings.Contains(err.Error(), auth.OAuthJWKSRefreshMs) {
			t.Errorf("%s=%s: %v", auth.OAuthJWKSRefreshMs, bad, err)
		}
	}
	if err := auth.CheckSetting(auth.OAuthJWKSRefreshMs, "3600000"); err != nil {
		t.Error(err)
	}
}
