package replica

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
)

// Defaults of a Conn's bounds.
const (
	// DefaultConnDialTimeout bounds a connection's set-up: TCP, the TLS
	// handshake, ApiVersions and the SASL login.
	DefaultConnDialTimeout = 10 * time.Second
	// DefaultConnIOTimeout bounds each request's write, and its read
	// beyond the wait the request itself asks the leader for (a Fetch's
	// MaxWaitMillis).
	DefaultConnIOTimeout = 30 * time.Second
	// DefaultConnMaxResponseBytes bounds one response frame: a fetch
	// answer holds at most the request's MaxBytes, past it by one batch
	// (KIP-74), which max.message.bytes bounds.
	DefaultConnMaxResponseBytes = 256 << 20
	// maxKeptFetchBuffer is the largest fetch response buffer kept for
	// the next fetch; a larger answer (a follower catching up with a
	// large replica.fetch.response.max.bytes) gets a buffer of its own.
	maxKeptFetchBuffer = 32 << 20
	// connReadBufferSize is the read buffer in front of the socket:
	// small answers come in one read, large bodies are read past it
	// straight into the response buffer.
	connReadBufferSize = 16 << 10
	// sizePrefix is the width of a frame's length, and of a response's
	// correlation ID.
	sizePrefix = 4
	// apiVersionsKey is ApiVersions' key: its response header is never
	// flexible, whatever the request's version (KIP-511).
	apiVersionsKey = 18
	// apiVersionsVersion is the ApiVersions version a Conn asks with.
	apiVersionsVersion = 3
	// reauthShare is the share of the SASL session lifetime (KIP-368)
	// after which a Conn logs in again on a new connection, before the
	// leader closes the old one.
	reauthShare = 0.9
	// maxSessionLifetime caps a session lifetime a leader announces: a
	// larger one never matters, and converting it could overflow.
	maxSessionLifetime = 365 * 24 * time.Hour
)

// ErrConnClosed: a request to a Conn that was closed.
var ErrConnClosed = errors.New("replica: connection closed")

// ConnConfig is how a Conn reaches a leader's inter-broker listener.
type ConnConfig struct {
	// Addr is the listener's host:port. Resolve, if set, is asked
	// instead at every dial (a broker that restarted elsewhere).
	Addr    string
	Resolve func() (string, error)
	// TLS gives the inter-broker listener's client TLS, asked at every
	// dial so that rotated certificate files take effect at the next
	// connection (auth.ClientTLS.Config); nil: plaintext. An empty
	// ServerName is the address's host, as a Kafka client does.
	TLS func() *tls.Config
	// SASL is the inter-broker login (franz-go's PLAIN, SCRAM or
	// OAUTHBEARER mechanism); nil: none.
	SASL     sasl.Mechanism
	ClientID string
	// LocalAddr is the address each connection is dialed from (its port
	// 0: any free port); nil: the kernel's choice. A broker with
	// inter.broker.source.bind.enable dials from its advertised
	// inter-broker IP, so the leader's side sees which node fetches.
	LocalAddr *net.TCPAddr
	// DialTimeout, IOTimeout and MaxResponseBytes are the bounds above;
	// zero: their defaults.
	DialTimeout      time.Duration
	IOTimeout        time.Duration
	MaxResponseBytes int
}

// Conn is a follower's connection to one leader broker: a Requester whose
// Fetch answers are read into one buffer reused from fetch to fetch and
// decoded by kmsg without copying record bytes, so that a steady stream
// of replica fetches allocates little more than kmsg's partition slices.
// It speaks to the leader's inter-broker listener with its TLS and SASL,
// at the versions ApiVersions says both sides serve (Fetch v12 at least).
// Requests go one at a time, in the caller's goroutine: no goroutine of
// its own. A failed request drops the connection; the next request dials
// again (the fetcher's backoff paces it). Close ends a request in flight.
type Conn struct {
	node int32
	cfg  ConnConfig
	fmtr *kmsg.RequestFormatter

	// mu serializes requests; it guards every field below ncMu, which
	// only the goroutine holding it touches.
	mu       sync.Mutex
	rd       *bufio.Reader
	versions []int16 // max version by API key, -1: not served; nil until connected
	corr     int32
	reauthAt time.Time // zero: the login does not expire
	wbuf     []byte    // a request's encoding, reused
	fbuf     []byte    // fetch response bodies, reused up to maxKeptFetchBuffer
	fresp    kmsg.FetchResponse
	hdr      [sizePrefix]byte

	// ncMu guards nc and closed, which Close and the end of a request's
	// context touch from other goroutines.
	ncMu   sync.Mutex
	nc     net.Conn
	closed bool
	// interrupt ends the request in flight (its context ended): made
	// once, so that arming it per request allocates no closure.
	interrupt func()
}

// NewConn returns a Conn to broker node; it dials on the first request.
func NewConn(node int32, cfg ConnConfig) *Conn {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultConnDialTimeout
	}
	if cfg.IOTimeout <= 0 {
		cfg.IOTimeout = DefaultConnIOTimeout
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultConnMaxResponseBytes
	}
	var opts []kmsg.RequestFormatterOpt
	if cfg.ClientID != "" {
		opts = append(opts, kmsg.FormatterClientID(cfg.ClientID))
	}
	c := &Conn{node: node, cfg: cfg, fmtr: kmsg.NewRequestFormatter(opts...)}
	c.interrupt = func() {
		c.ncMu.Lock()
		if c.nc != nil {
			_ = c.nc.SetDeadline(time.Unix(1, 0))
		}
		c.ncMu.Unlock()
	}
	return c
}

// Node is the broker this Conn reaches.
func (c *Conn) Node() int32 { return c.node }

// Close closes the connection and ends a request in flight; every later
// request fails with ErrConnClosed.
func (c *Conn) Close() {
	c.ncMu.Lock()
	c.closed = true
	if c.nc != nil {
		_ = c.nc.Close()
		c.nc = nil
	}
	c.ncMu.Unlock()
}

// Request sends req and returns its decoded response, which owns its
// memory.
func (c *Conn) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	body, err := c.do(ctx, req, false)
	if err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	if err := resp.ReadFrom(body); err != nil {
		c.drop()
		return nil, fmt.Errorf("replica: broker %d: decode %s v%d response: %w", c.node, kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp, nil
}

// Fetch sends a replica fetch at the highest version both sides serve
// (v12 at least) and returns its answer, decoded in place: the response
// and its record bytes are the Conn's, valid until the next Fetch or
// Close. Requests other than Fetch (Request) leave them alone.
func (c *Conn) Fetch(ctx context.Context, req *kmsg.FetchRequest) (*kmsg.FetchResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	body, err := c.do(ctx, req, true)
	if err != nil {
		return nil, err
	}
	// Reset what a response of this version may leave out (tagged
	// fields), keeping the topics' room.
	c.fresp = kmsg.FetchResponse{Version: req.Version, Topics: c.fresp.Topics[:0]}
	if err := c.fresp.UnsafeReadFrom(body); err != nil {
		c.drop()
		return nil, fmt.Errorf("replica: broker %d: decode Fetch v%d response: %w", c.node, req.Version, err)
	}
	return &c.fresp, nil
}

// do connects if need be, then sends req and reads its response body
// (after the header): into fbuf if reuse, else into a buffer of its own.
// Caller holds mu.
func (c *Conn) do(ctx context.Context, req kmsg.Request, reuse bool) ([]byte, error) {
	if err := c.connect(ctx); err != nil {
		return nil, err
	}
	if err := c.setVersion(req); err != nil {
		return nil, err
	}
	body, err := c.roundTrip(ctx, req, reuse)
	if err != nil {
		return nil, fmt.Errorf("replica: broker %d: %s: %w", c.node, kmsg.NameForKey(req.Key()), err)
	}
	return body, nil
}

// setVersion picks req's version: the highest kmsg and the leader both
// serve. Caller holds mu.
func (c *Conn) setVersion(req kmsg.Request) error {
	k := int(req.Key())
	if k >= len(c.versions) || c.versions[k] < 0 {
		return fmt.Errorf("replica: broker %d does not serve %s", c.node, kmsg.NameForKey(req.Key()))
	}
	v := min(req.MaxVersion(), c.versions[k])
	if k == 1 && v < minFetchVersion {
		return fmt.Errorf("replica: broker %d serves Fetch up to v%d, replication needs v%d+", c.node, v, minFetchVersion)
	}
	req.SetVersion(v)
	return nil
}

// roundTrip writes req and reads its response's body, the header (the
// correlation ID, and the tags of a flexible one) checked and skipped.
// Any failure drops the connection: the stream may be mid-frame. Caller
// holds mu and has connected.
func (c *Conn) roundTrip(ctx context.Context, req kmsg.Request, reuse bool) (body []byte, err error) {
	c.ncMu.Lock()
	nc := c.nc
	c.ncMu.Unlock()
	if nc == nil {
		return nil, ErrConnClosed
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, c.interrupt)
		defer func() {
			if !stop() && ctx.Err() != nil {
				// The interrupt ran or is about to: the connection's
				// deadline may be in the past whatever this request got.
				c.drop()
				if err == nil {
					body, err = nil, ctx.Err()
				}
			}
		}()
	}
	defer func() {
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				err = fmt.Errorf("%w (%w)", ctxErr, err)
			}
			c.drop()
		}
	}()
	c.corr++
	corr := c.corr
	c.wbuf = c.fmtr.AppendRequest(c.wbuf[:0], req, corr)
	now := time.Now()
	if err := nc.SetWriteDeadline(now.Add(c.cfg.IOTimeout)); err != nil {
		return nil, err
	}
	if _, err := nc.Write(c.wbuf); err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	if err := nc.SetReadDeadline(now.Add(c.cfg.IOTimeout + requestWait(req))); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(c.rd, c.hdr[:]); err != nil {
		return nil, fmt.Errorf("read response size: %w", err)
	}
	size := int(int32(binary.BigEndian.Uint32(c.hdr[:])))
	if size < sizePrefix || size > c.cfg.MaxResponseBytes {
		return nil, fmt.Errorf("response of %d bytes, want %d to %d", size, sizePrefix, c.cfg.MaxResponseBytes)
	}
	var buf []byte
	switch {
	case !reuse || size > maxKeptFetchBuffer:
		buf = make([]byte, size)
	case cap(c.fbuf) >= size:
		buf = c.fbuf[:size]
	default:
		c.fbuf = make([]byte, size, size+size/4) // room for a little growth
		buf = c.fbuf
	}
	if _, err := io.ReadFull(c.rd, buf); err != nil {
		return nil, fmt.Errorf("read response of %d bytes: %w", size, err)
	}
	if got := int32(binary.BigEndian.Uint32(buf)); got != corr {
		return nil, fmt.Errorf("response correlation ID %d, want %d", got, corr)
	}
	body = buf[sizePrefix:]
	if req.IsFlexible() && req.Key() != apiVersionsKey {
		r := kbin.Reader{Src: body}
		kmsg.SkipTags(&r)
		if !r.Ok() {
			return nil, errors.New("response header tags run past the frame")
		}
		body = r.Src
	}
	return body, nil
}

// requestWait is how long the leader may hold req before answering.
func requestWait(req kmsg.Request) time.Duration {
	if f, ok := req.(*kmsg.FetchRequest); ok && f.MaxWaitMillis > 0 {
		return time.Duration(f.MaxWaitMillis) * time.Millisecond
	}
	return 0
}

// drop closes the connection after a failure; the next request dials
// again. Caller holds mu.
func (c *Conn) drop() {
	c.ncMu.Lock()
	if c.nc != nil {
		_ = c.nc.Close()
		c.nc = nil
	}
	c.ncMu.Unlock()
	c.versions = nil
}

// connect dials the leader if there is no connection, or the login is
// due again: TCP, TLS, ApiVersions, then SASL. Caller holds mu.
func (c *Conn) connect(ctx context.Context) error {
	c.ncMu.Lock()
	closed, up := c.closed, c.nc != nil
	c.ncMu.Unlock()
	switch {
	case closed:
		return fmt.Errorf("replica: broker %d: %w", c.node, ErrConnClosed)
	case up && (c.reauthAt.IsZero() || time.Now().Before(c.reauthAt)):
		return nil
	case up:
		c.drop() // the login is about to expire: a new connection logs in again
	}
	if err := c.dial(ctx); err != nil {
		c.drop()
		return fmt.Errorf("replica: connect to broker %d: %w", c.node, err)
	}
	return nil
}

func (c *Conn) dial(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	addr := c.cfg.Addr
	if c.cfg.Resolve != nil {
		var err error
		if addr, err = c.cfg.Resolve(); err != nil {
			return err
		}
	}
	d := net.Dialer{}
	if c.cfg.LocalAddr != nil {
		d.LocalAddr = c.cfg.LocalAddr
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	if c.cfg.TLS != nil {
		cfg := c.cfg.TLS().Clone()
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				_ = nc.Close()
				return err
			}
			cfg.ServerName = host
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		nc = tc
	}
	c.ncMu.Lock()
	if c.closed {
		c.ncMu.Unlock()
		_ = nc.Close()
		return ErrConnClosed
	}
	c.nc = nc
	c.ncMu.Unlock()
	if c.rd == nil {
		c.rd = bufio.NewReaderSize(nc, connReadBufferSize)
	} else {
		c.rd.Reset(nc)
	}
	c.reauthAt = time.Time{}
	if err := c.apiVersions(ctx); err != nil {
		return err
	}
	if c.cfg.SASL != nil {
		return c.login(ctx, addr)
	}
	return nil
}

// apiVersions learns the versions the leader serves. Caller holds mu.
func (c *Conn) apiVersions(ctx context.Context) error {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(apiVersionsVersion)
	req.ClientSoftwareName = "tributary-replica"
	req.ClientSoftwareVersion = "1"
	body, err := c.roundTrip(ctx, req, false)
	if err != nil {
		return fmt.Errorf("ApiVersions: %w", err)
	}
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if err := resp.ReadFrom(body); err != nil {
		return fmt.Errorf("ApiVersions: decode: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("ApiVersions: %w", err)
	}
	versions := make([]int16, 0, 128)
	for _, k := range resp.ApiKeys {
		if k.ApiKey < 0 || k.ApiKey > 1024 {
			continue
		}
		for int(k.ApiKey) >= len(versions) {
			versions = append(versions, -1)
		}
		versions[k.ApiKey] = k.MaxVersion
	}
	c.versions = versions
	return nil
}

// login runs the SASL exchange (SaslHandshake v1, then SaslAuthenticate
// until the mechanism is done), and notes when the session expires.
// Caller holds mu.
func (c *Conn) login(ctx context.Context, addr string) error {
	m := c.cfg.SASL
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Mechanism = m.Name()
	if err := c.setVersion(hs); err != nil {
		return err
	}
	if hs.Version < 1 {
		return fmt.Errorf("SaslHandshake v%d: SaslAuthenticate (v1) is needed", hs.Version)
	}
	body, err := c.roundTrip(ctx, hs, false)
	if err != nil {
		return fmt.Errorf("SaslHandshake: %w", err)
	}
	hsResp := hs.ResponseKind().(*kmsg.SASLHandshakeResponse)
	if err := hsResp.ReadFrom(body); err != nil {
		return fmt.Errorf("SaslHandshake: decode: %w", err)
	}
	if err := kerr.ErrorForCode(hsResp.ErrorCode); err != nil {
		return fmt.Errorf("SaslHandshake %s (the leader serves %v): %w", m.Name(), hsResp.SupportedMechanisms, err)
	}
	session, out, err := m.Authenticate(ctx, addr)
	if err != nil {
		return fmt.Errorf("SASL %s: %w", m.Name(), err)
	}
	if len(out) == 0 {
		return fmt.Errorf("SASL %s: the mechanism has no first message", m.Name())
	}
	start := time.Now()
	var lifetime int64
	// Write while the mechanism has something to say; every
	// SaslAuthenticate gets an answer, whose bytes are the next
	// challenge until the mechanism is done.
	for done := false; !done || len(out) > 0; {
		auth := kmsg.NewPtrSASLAuthenticateRequest()
		auth.SASLAuthBytes = out
		if err := c.setVersion(auth); err != nil {
			return err
		}
		body, err := c.roundTrip(ctx, auth, false)
		if err != nil {
			return fmt.Errorf("SaslAuthenticate: %w", err)
		}
		resp := auth.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		if err := resp.ReadFrom(body); err != nil {
			return fmt.Errorf("SaslAuthenticate: decode: %w", err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return fmt.Errorf("SASL %s login: %w", m.Name(), err)
		}
		lifetime = resp.SessionLifetimeMillis
		out = nil
		if !done {
			if done, out, err = session.Challenge(resp.SASLAuthBytes); err != nil {
				return fmt.Errorf("SASL %s: %w", m.Name(), err)
			}
		}
	}
	if lifetime > 0 {
		lifetime = min(lifetime, maxSessionLifetime.Milliseconds())
		c.reauthAt = start.Add(time.Duration(float64(lifetime)*reauthShare) * time.Millisecond)
	}
	return nil
}
