package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tributary-io/tributary/internal/wallclock"
)

// MechanismOAuthBearer is KIP-255's SASL/OAUTHBEARER (RFC 7628).
const MechanismOAuthBearer = "OAUTHBEARER"

// Kafka's OAUTHBEARER broker settings served here (also per listener).
const (
	OAuthJWKSURL          = "sasl.oauthbearer.jwks.endpoint.url"
	OAuthJWKSRefreshMs    = "sasl.oauthbearer.jwks.endpoint.refresh.ms"
	OAuthExpectedAudience = "sasl.oauthbearer.expected.audience"
	OAuthExpectedIssuer   = "sasl.oauthbearer.expected.issuer"
	OAuthSubClaimName     = "sasl.oauthbearer.sub.claim.name"
	OAuthClockSkewSeconds = "sasl.oauthbearer.clock.skew.seconds"
	// OAuthInsecureUnsigned is not Kafka's: it turns on what Kafka's
	// unsecured validator does (tokens with "alg":"none", no signature),
	// for development only, and its name says so.
	OAuthInsecureUnsigned = "sasl.oauthbearer.insecure.unsigned.tokens.enable"
)

// Defaults of the OAUTHBEARER settings, Kafka's.
const (
	defaultSubClaim  = "sub"
	defaultClockSkew = 30 * time.Second
	// defaultJWKSRefresh is sasl.oauthbearer.jwks.endpoint.refresh.ms's
	// default (Kafka's): how old the keys may grow before they are
	// fetched again.
	defaultJWKSRefresh = time.Hour
	// jwksRefetchInterval is the least time between two fetches of the
	// JWKS (or the refresh period, if shorter): a flood of tokens naming
	// an unknown key id, or an endpoint that is down, costs at most one
	// fetch per interval.
	jwksRefetchInterval = 10 * time.Second
	// jwksMaxBytes bounds a JWKS document.
	jwksMaxBytes = 1 << 20
	// jwksFetchTimeout bounds one HTTP fetch of the JWKS.
	jwksFetchTimeout = 10 * time.Second
)

// oauthInvalidToken is the challenge Kafka sends for a token it refuses
// (RFC 7628 section 3.2.2), before failing the exchange.
const oauthInvalidToken = `{"status":"invalid_token"}`

// signingAlgorithms are the JWS algorithms accepted on signed tokens.
var signingAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384,
	jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

// OAuthBearerValidator checks the JWTs of OAUTHBEARER exchanges, as
// Kafka's default validator does: signed by a key of the JWKS at
// sasl.oauthbearer.jwks.endpoint.url (https://, http:// or file://), with
// an exp, not expired nor before nbf (with the clock skew), of the
// expected issuer and audience when set; the principal is the sub claim
// (or sasl.oauthbearer.sub.claim.name).
type OAuthBearerValidator struct {
	jwksURL       string
	audience      []string
	issuer        string
	subClaim      string
	skew          time.Duration
	allowUnsigned bool
	client        *http.Client
	// refresh is sasl.oauthbearer.jwks.endpoint.refresh.ms.
	refresh time.Duration

	mu      sync.Mutex // guards keys, fetched and tried
	keys    jose.JSONWebKeySet
	fetched time.Time // when keys were fetched
	tried   time.Time // when the last fetch, good or not, began
}

// NewOAuthBearerValidator reads the OAUTHBEARER settings of a listener and
// fetches its JWKS once. The keys are fetched again, with no goroutine of
// their own, by the first validation that finds them older than
// sasl.oauthbearer.jwks.endpoint.refresh.ms or a token naming a key id
// they lack (a rotated key), at most once per jwksRefetchInterval; a
// failed fetch keeps the keys there were.
func NewOAuthBearerValidator(settings map[string]string) (*OAuthBearerValidator, error) {
	get := func(k string) string { return strings.TrimSpace(settings[k]) }
	v := &OAuthBearerValidator{jwksURL: get(OAuthJWKSURL), issuer: get(OAuthExpectedIssuer),
		subClaim: defaultSubClaim, skew: defaultClockSkew, client: &http.Client{Timeout: jwksFetchTimeout},
		refresh: defaultJWKSRefresh}
	if err := checkOAuthSetting(OAuthInsecureUnsigned, get(OAuthInsecureUnsigned)); err != nil {
		return nil, err
	}
	v.allowUnsigned, _ = strconv.ParseBool(get(OAuthInsecureUnsigned))
	if s := get(OAuthSubClaimName); s != "" {
		v.subClaim = s
	}
	if s := get(OAuthClockSkewSeconds); s != "" {
		if err := checkOAuthSetting(OAuthClockSkewSeconds, s); err != nil {
			return nil, err
		}
		n, _ := strconv.Atoi(s)
		v.skew = time.Duration(n) * time.Second
	}
	if s := get(OAuthJWKSRefreshMs); s != "" {
		if err := checkOAuthSetting(OAuthJWKSRefreshMs, s); err != nil {
			return nil, err
		}
		n, _ := strconv.ParseInt(s, 10, 64)
		v.refresh = time.Duration(n) * time.Millisecond
	}
	v.audience = splitList(get(OAuthExpectedAudience))
	if v.jwksURL == "" {
		if !v.allowUnsigned {
			return nil, fmt.Errorf("%w: OAUTHBEARER needs %s (or, for development only, %s=true)", ErrUnknownMechanism, OAuthJWKSURL, OAuthInsecureUnsigned)
		}
		return v, nil
	}
	if err := checkOAuthSetting(OAuthJWKSURL, v.jwksURL); err != nil {
		return nil, err
	}
	now := time.Now()
	v.tried = now
	if err := v.fetch(now); err != nil {
		return nil, err
	}
	return v, nil
}

// maxJWKSRefresh bounds sasl.oauthbearer.jwks.endpoint.refresh.ms so that
// it fits a time.Duration.
const maxJWKSRefresh = 100 * 365 * 24 * time.Hour

func checkOAuthSetting(name, value string) error {
	switch name {
	case OAuthInsecureUnsigned:
		if _, err := strconv.ParseBool(value); value != "" && err != nil {
			return fmt.Errorf("auth: %s=%q: want true or false", name, value)
		}
	case OAuthClockSkewSeconds:
		if n, err := strconv.Atoi(value); value != "" && (err != nil || n < 0) {
			return fmt.Errorf("auth: %s=%q: want seconds, 0 or more", name, value)
		}
	case OAuthJWKSRefreshMs:
		if n, err := strconv.ParseInt(value, 10, 64); value != "" && (err != nil || n <= 0 || n > int64(maxJWKSRefresh/time.Millisecond)) {
			return fmt.Errorf("auth: %s=%q: want milliseconds, more than 0", name, value)
		}
	case OAuthJWKSURL:
		u, err := url.Parse(value)
		if value != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "file")) {
			return fmt.Errorf("auth: %s=%q: want an https://, http:// or file:// URL", name, value)
		}
	}
	return nil
}

// fetch loads the JWKS.
func (v *OAuthBearerValidator) fetch(now time.Time) error {
	u, _ := url.Parse(v.jwksURL)
	var body []byte
	var err error
	if u.Scheme == "file" {
		body, err = os.ReadFile(u.Path)
	} else {
		var resp *http.Response
		resp, err = v.client.Get(v.jwksURL)
		if err == nil {
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("HTTP %s", resp.Status)
			} else {
				body, err = io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes))
			}
		}
	}
	var set jose.JSONWebKeySet
	if err == nil {
		err = json.Unmarshal(body, &set)
	}
	if err != nil {
		return fmt.Errorf("auth: JWKS %s: %w", v.jwksURL, err)
	}
	v.mu.Lock()
	v.keys, v.fetched = set, now
	v.mu.Unlock()
	return nil
}

// keysFor are the JWKS keys of kid (all of them for no kid). It fetches
// the JWKS again first when the keys are older than the refresh period or
// lack kid, unless a fetch began less than jwksRefetchInterval (or the
// refresh period, if shorter) ago; one caller fetches, the others go on
// with the keys there are.
func (v *OAuthBearerValidator) keysFor(kid string, now time.Time) []jose.JSONWebKey {
	lookup := func() []jose.JSONWebKey {
		if kid != "" {
			return v.keys.Key(kid)
		}
		return v.keys.Keys
	}
	v.mu.Lock()
	keys := lookup()
	want := len(keys) == 0 || now.Sub(v.fetched) >= v.refresh
	fetch := want && now.Sub(v.tried) >= min(jwksRefetchInterval, v.refresh)
	if fetch {
		v.tried = now
	}
	v.mu.Unlock()
	if fetch && v.fetch(now) == nil {
		v.mu.Lock()
		keys = lookup()
		v.mu.Unlock()
	}
	return keys
}

// Validate checks token and returns the principal name and the token's
// expiry.
func (v *OAuthBearerValidator) Validate(token string, now time.Time) (string, time.Time, error) {
	var claims jwt.Claims
	var all map[string]any
	if alg, ok := unsignedAlg(token); ok {
		if !v.allowUnsigned {
			return "", time.Time{}, fmt.Errorf("unsigned token (alg %q): refused without %s=true", alg, OAuthInsecureUnsigned)
		}
		payload, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
		if err != nil || json.Unmarshal(payload, &claims) != nil || json.Unmarshal(payload, &all) != nil {
			return "", time.Time{}, errors.New("unsigned token: claims do not decode")
		}
	} else {
		if v.jwksURL == "" {
			return "", time.Time{}, fmt.Errorf("signed token, and no %s to check it against", OAuthJWKSURL)
		}
		tok, err := jwt.ParseSigned(token, signingAlgorithms)
		if err != nil {
			return "", time.Time{}, fmt.Errorf("token: %w", err)
		}
		kid := ""
		if len(tok.Headers) > 0 {
			kid = tok.Headers[0].KeyID
		}
		verified := false
		for _, k := range v.keysFor(kid, now) {
			if tok.Claims(k.Key, &claims, &all) == nil {
				verified = true
				break
			}
		}
		if !verified {
			return "", time.Time{}, fmt.Errorf("token signed by no key of the JWKS (kid %q)", kid)
		}
	}
	if claims.Expiry == nil {
		return "", time.Time{}, errors.New("token has no exp claim")
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{Issuer: v.issuer, AnyAudience: v.audience, Time: now}, v.skew); err != nil {
		return "", time.Time{}, fmt.Errorf("token: %w", err)
	}
	sub, _ := all[v.subClaim].(string)
	if sub == "" {
		return "", time.Time{}, fmt.Errorf("token has no %q claim", v.subClaim)
	}
	return sub, claims.Expiry.Time(), nil
}

// unsignedAlg says whether token is an unsecured JWT ("alg":"none" and
// an empty signature), and its alg.
func unsignedAlg(token string) (string, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", false
	}
	h, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return "", false
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(h, &hdr) != nil || !strings.EqualFold(hdr.Alg, "none") {
		return "", false
	}
	return hdr.Alg, true
}

// ParseOAuthBearerMessage reads an OAUTHBEARER client-first message (RFC
// 7628): a gs2 header ("n,," or "n,a=user,"), then key=value pairs, each
// ended by 0x01, with auth=Bearer <token> among them, and a final 0x01.
func ParseOAuthBearerMessage(msg []byte) (authzid, token string, err error) {
	bad := func(why string) (string, string, error) {
		return "", "", fmt.Errorf("%w: OAUTHBEARER: %s", ErrAuthenticationFailed, why)
	}
	i := bytes.IndexByte(msg, 0x01)
	if i < 0 {
		return bad("no 0x01 after the gs2 header")
	}
	gs2 := string(msg[:i])
	parts := strings.Split(gs2, ",")
	if len(parts) != 3 || (parts[0] != "n" && parts[0] != "y") || parts[2] != "" {
		return bad("malformed gs2 header")
	}
	if parts[1] != "" {
		z, ok := strings.CutPrefix(parts[1], "a=")
		if !ok {
			return bad("malformed gs2 header")
		}
		authzid = z
	}
	rest := msg[i+1:]
	if !bytes.HasSuffix(rest, []byte{0x01}) {
		return bad("the message does not end with 0x01")
	}
	rest = rest[:len(rest)-1]
	for len(rest) > 0 {
		j := bytes.IndexByte(rest, 0x01)
		if j < 0 {
			return bad("a key=value pair without its 0x01")
		}
		kv := string(rest[:j])
		rest = rest[j+1:]
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return bad("a pair without =")
		}
		if k == "auth" {
			scheme, tok, ok := strings.Cut(v, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
				return bad("auth is not \"Bearer <token>\"")
			}
			token = strings.TrimSpace(tok)
		}
	}
	if token == "" {
		return bad("no auth=Bearer token")
	}
	return authzid, token, nil
}

// oauthAuthenticator is one OAUTHBEARER exchange: the client's token, and
// after a refused one Kafka's invalid_token challenge, which the client
// acknowledges with 0x01 before the exchange fails.
type oauthAuthenticator struct {
	v       *OAuthBearerValidator
	step    int
	failure error
	user    string
	expiry  time.Time
	done    bool
}

// NewOAuthBearerAuthenticator starts an OAUTHBEARER exchange checked by v.
func NewOAuthBearerAuthenticator(v *OAuthBearerValidator) Authenticator {
	return &oauthAuthenticator{v: v}
}

func (a *oauthAuthenticator) Step(token []byte) ([]byte, error) {
	a.step++
	switch {
	case a.step == 1:
		authzid, tok, err := ParseOAuthBearerMessage(token)
		if err != nil {
			return nil, err
		}
		// exp and nbf are wall-clock timestamps: compared with the
		// wall clock (internal/wallclock), as a clock jump moves it.
		user, exp, err := a.v.Validate(tok, wallclock.Now())
		if err == nil && authzid != "" && authzid != user {
			err = fmt.Errorf("authorization id %q differs from the token's principal %q", authzid, user)
		}
		if err != nil {
			a.failure = fmt.Errorf("%w: OAUTHBEARER: %w", ErrAuthenticationFailed, err)
			return []byte(oauthInvalidToken), nil
		}
		a.user, a.expiry, a.done = user, exp, true
		return nil, nil
	case a.step == 2 && a.failure != nil:
		return nil, a.failure
	}
	return nil, fmt.Errorf("%w: OAUTHBEARER: the exchange is over", ErrAuthenticationFailed)
}

func (a *oauthAuthenticator) Done() bool           { return a.done }
func (a *oauthAuthenticator) Principal() Principal { return User(a.user) }

// SessionExpiry is when the token expires: the session may not outlive it.
func (a *oauthAuthenticator) SessionExpiry() time.Time { return a.expiry }
