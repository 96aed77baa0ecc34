package server

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/valyala/bytebufferpool"
	"golang.org/x/time/rate"

	"github.com/tributary-io/tributary/auth"
	tlog "github.com/tributary-io/tributary/log"
	"github.com/tributary-io/tributary/server/wire"
)

// The first two bytes of a TLS client hello (a handshake record of TLS
// 1.x), which read as a size prefix are far past any limit.
const (
	tlsHandshakeRecord = 0x16
	tlsMajorVersion    = 0x03
)

// Request frame limits.
const (
	// sizePrefix is the int32 length in front of every request and response.
	sizePrefix = 4
	// minRequestHeader is apiKey(2) + apiVersion(2) + correlationId(4) +
	// clientId length(2): anything shorter is not a request.
	minRequestHeader = 10
	// readChunk is the least a request body buffer grows by while its
	// bytes arrive.
	readChunk = 64 << 10
)

// conn is one client connection, owned by its one goroutine (serve).
type conn struct {
	s  *Server
	nc net.Conn // the accepted connection: deadlines and Close, from any goroutine
	// rw is what requests are read from and responses written to: nc, or
	// the TLS connection over it. Set before the first request, by the
	// connection's goroutine only.
	rw     net.Conn
	ln     *listener // the listener the client came in on
	remote string

	// principal is who the connection acts as: User:ANONYMOUS from
	// accept until it authenticates (a TLS client certificate, SASL).
	// Written and read only by the connection's goroutine; the
	// authorizer checks every request against it. host is the client's
	// IP address in canonical form (connAddr), which host-based ACLs
	// match.
	principal auth.Principal
	host      string
	// sasl is the SASL exchange of a SASL_PLAINTEXT or SASL_SSL
	// connection (sasl.go); nil on other listeners.
	sasl *saslState
	// closeAfter, when set by a handler, closes the connection once its
	// response is sent (a failed authentication).
	closeAfter error

	// tlsOut gathers a response's buffers into full TLS records on SSL
	// and SASL_SSL listeners (tls_records.go). nil on plaintext
	// listeners, which write the segment views with writev, uncopied.
	tlsOut *tlsRecords

	sizeBuf  [sizePrefix]byte
	frame    *bytebufferpool.ByteBuffer // the request being handled
	budgeted int64                      // bytes of the server's request budget held for frame
	views    []tlog.Batches             // segment views the current response points into

	// Reused for every response: where the Fetch record bytes go in the
	// encoded response, and the writev list.
	splices []wire.Splice
	bufs    net.Buffers

	// Reused for every incremental fetch (fetch_sessions.go): the full
	// fetch of the session's partitions that is read, the session's
	// partitions in that order, and what the answer keeps of them.
	sessReq      kmsg.FetchRequest
	sessPartsBuf []kmsg.FetchRequestTopicPartition
	sessOrder    []*sessionPart
	sessAnswered []*sessionPart
	sessKeep     []bool
	// Reused for every fetch (fetchParts): the response's topics and
	// partitions, and the partitions resolved to logs.
	fetchTopics    []kmsg.FetchResponseTopic
	fetchRespParts []kmsg.FetchResponseTopicPartition
	fetchPartsBuf  []fetchPart

	// group.max.creation.rate.per.connection (group_quota.go): the
	// connection's bucket, made on its first group creation, and the time
	// before which it is not read (throttled, as Kafka mutes a channel).
	groupCreations *rate.Limiter
	mutedUntil     time.Time

	// The produce pipeline (produce_pipeline.go): pipe is the running
	// one, nil when none runs; commitWaits and commitDeadline are what
	// the produce being handled left to wait for (awaitCommit). Owned by
	// the connection's goroutine.
	pipe           *producePipe
	commitWaits    []commitWait
	commitDeadline time.Time
}

// reqHeader is a request's header, decoded with kbin: kmsg has no type for
// it because the header is framing, not a message.
type reqHeader struct {
	key      int16
	version  int16
	corrID   int32
	clientID string
}

func newConn(s *Server, nc net.Conn, ln *listener) *conn {
	c := &conn{
		s:         s,
		nc:        nc,
		rw:        nc,
		ln:        ln,
		remote:    nc.RemoteAddr().String(),
		principal: auth.Anonymous,
		host:      connAddr(nc),
	}
	if p, ok := s.cfg.principalByHost[c.host]; ok {
		c.principal = p
	}
	if ln.protocol.SASL() {
		c.sasl = &saslState{}
	}
	return c
}

// stopReading makes a reader blocked on the next frame return; a request
// being handled still completes and its response is sent.
func (c *conn) stopReading() {
	c.nc.SetReadDeadline(time.Unix(1, 0))
}

// serve reads, handles and answers requests one at a time, in order; it
// returns when the client goes away, on malformed input, on idle timeout
// or at shutdown, after the last response was sent.
func (c *conn) serve() {
	defer c.nc.Close()
	defer func() {
		// A bug in a handler must cost one connection, not the broker.
		if r := recover(); r != nil {
			c.s.metrics.badRequests.Inc()
			c.s.logger.Error("server: panic handling a request; closing the connection",
				"remote", c.remote, "panic", r, "stack", string(debug.Stack()))
			c.releaseViews()
			c.putFrame()
		}
		// The produces appended before the connection ended are still
		// answered (and the pipeline's goroutine is waited for).
		if err := c.drainProduces(); err != nil {
			c.logClose(err)
		}
	}()
	if c.ln.tls != nil {
		if err := c.handshakeTLS(); err != nil {
			c.s.metrics.security.tlsHandshakeFailures.WithLabelValues(c.ln.name).Inc()
			c.s.logger.Warn("server: TLS handshake failed; closing the connection",
				"listener", c.ln.name, "remote", c.remote, "err", err)
			return
		}
	}
	for {
		if !c.waitMuted() {
			return
		}
		if c.sasl != nil && c.sasl.rawTokens {
			if err := c.drainProduces(); err != nil {
				c.logClose(err)
				return
			}
			if err := c.serveRawToken(); err != nil {
				c.logClose(err)
				return
			}
			continue
		}
		if err := c.readFrame(); err != nil {
			c.logClose(err)
			return
		}
		err := c.handleFrame()
		c.putFrame()
		if err != nil {
			c.logClose(err)
			return
		}
	}
}

// tlsHandshakeTimeout bounds a TLS handshake, so that a client that
// connects and says nothing holds its connection no longer than this.
const tlsHandshakeTimeout = 10 * time.Second

// handshakeTLS runs the server side of the TLS handshake and takes the
// client certificate's principal, if the client presented one.
func (c *conn) handshakeTLS() error {
	tc := tls.Server(c.nc, c.ln.tlsConfig)
	tc.SetDeadline(time.Now().Add(min(tlsHandshakeTimeout, c.s.cfg.ConnectionsMaxIdle)))
	if err := tc.Handshake(); err != nil {
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) {
			return fmt.Errorf("server: not a TLS client (is it configured for PLAINTEXT instead of SSL?): %w", err)
		}
		return fmt.Errorf("server: %w", err)
	}
	tc.SetDeadline(time.Time{})
	p, err := c.ln.tls.Principal(tc.ConnectionState())
	if err != nil {
		return fmt.Errorf("server: client certificate: %w", err)
	}
	c.rw, c.principal = tc, p
	c.tlsOut = newTLSRecords(tc)
	return nil
}

// errIdle and errShutdown end a connection without anything being wrong.
var (
	errIdle       = errors.New("idle for connections.max.idle.ms")
	errShutdown   = errors.New("broker shutting down")
	errClientGone = errors.New("client stopped reading its responses")
)

func (c *conn) logClose(err error) {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, errShutdown), errors.Is(err, errAuthClosed):
		return
	case errors.Is(err, errIdle), errors.Is(err, errClientGone):
		c.s.logger.Debug("server: closing connection", "remote", c.remote, "why", err)
	default:
		c.s.metrics.badRequests.Inc()
		c.s.logger.Warn("server: closing connection", "remote", c.remote, "err", err)
	}
}

// readFrame reads one size-prefixed request into c.frame, then takes the
// frame's size from the server's request budget (queued.max.request.bytes)
// before it is decoded.
//
// The size is checked before anything is allocated, and the body is read in
// chunks into a buffer that grows with what has arrived: a client that
// announces 100 MiB and stalls holds only what it sent, not the budget, so
// it cannot make other clients wait.
func (c *conn) readFrame() error {
	c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.ConnectionsMaxIdle))
	if c.s.isClosing() {
		return errShutdown
	}
	if _, err := io.ReadFull(c.rw, c.sizeBuf[:]); err != nil {
		return c.readErr(err, true)
	}
	size := int32(binary.BigEndian.Uint32(c.sizeBuf[:]))
	if size < minRequestHeader || int64(size) > int64(c.s.cfg.SocketRequestMaxBytes) {
		if c.tlsOut == nil && c.sizeBuf[0] == tlsHandshakeRecord && c.sizeBuf[1] == tlsMajorVersion {
			return fmt.Errorf("server: a TLS handshake on %s listener %s: the client is configured for SSL; this listener is not TLS", c.ln.protocol, c.ln.name)
		}
		return fmt.Errorf("server: request size %d outside [%d, socket.request.max.bytes=%d]", size, minRequestHeader, c.s.cfg.SocketRequestMaxBytes)
	}
	// The API key comes first: only Produce may use the full size.
	var key [2]byte
	if _, err := io.ReadFull(c.rw, key[:]); err != nil {
		return c.readErr(err, false)
	}
	k := int16(binary.BigEndian.Uint16(key[:]))
	if c.sasl != nil {
		if err := c.saslGate(k, size); err != nil {
			return err
		}
	}
	if k != produceKey && size > maxNonProduceRequestBytes {
		return fmt.Errorf("server: %d-byte request for API key %d: only Produce may exceed %d bytes", size, k, maxNonProduceRequestBytes)
	}
	c.frame = bytebufferpool.Get()
	b := append(c.frame.B[:0], key[:]...)
	for len(b) < int(size) {
		// Grow by what has arrived so far (at least a readChunk), never
		// by what the size prefix promises.
		n := min(int(size)-len(b), max(len(b), readChunk))
		b = slices.Grow(b, n)
		if _, err := io.ReadFull(c.rw, b[len(b):len(b)+n]); err != nil {
			c.frame.B = b
			c.putFrame()
			return c.readErr(err, false)
		}
		b = b[:len(b)+n]
	}
	c.frame.B = b
	c.s.metrics.netIn.Add(float64(sizePrefix + int(size)))
	// Wait for room in queued.max.request.bytes before decoding: this is
	// what bounds how many frames are decoded and handled at once. While
	// kmsg decodes, a frame may cost up to decodeAmplification times its
	// size (array elements allocated for the counts it claims), so that
	// is what it holds until decoded.
	c.budgeted = min(int64(size)*decodeAmplification, c.s.budgetBytes)
	if err := c.s.requestBudget.Acquire(c.s.ctx, c.budgeted); err != nil {
		c.budgeted = 0
		c.putFrame()
		return errShutdown
	}
	return nil
}

// keepBudget gives back the frame's share of the request budget beyond n
// bytes, as soon as the request needs no more: a decoded request no longer
// weighs its decoding cost, and a long poll must not hold its frame's
// share for its whole wait.
func (c *conn) keepBudget(n int64) {
	if c.budgeted > n {
		c.s.requestBudget.Release(c.budgeted - n)
		c.budgeted = n
	}
}

// putFrame returns the frame buffer and its share of the request budget.
func (c *conn) putFrame() {
	if c.frame != nil {
		bytebufferpool.Put(c.frame)
		c.frame = nil
	}
	c.keepBudget(0)
}

func (c *conn) readErr(err error, between bool) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if c.s.isClosing() {
			return errShutdown
		}
		if between {
			return errIdle
		}
		return fmt.Errorf("server: request frame not complete within connections.max.idle.ms: %w", err)
	}
	if !between && errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("server: truncated request frame: %w", err)
	}
	return err
}

// handleFrame decodes and handles c.frame and queues the response. An error
// closes the connection.
func (c *conn) handleFrame() error {
	start := time.Now()
	hdr, body, err := parseHeader(c.frame.B)
	if err != nil {
		return err
	}
	if hdr.key != produceKey {
		// Only consecutive produces overlap (produce_pipeline.go).
		if err := c.drainProduces(); err != nil {
			return err
		}
	}
	api := lookupAPI(hdr.key)
	if api == nil {
		return fmt.Errorf("server: unknown API key %d (correlation id %d, client %q)", hdr.key, hdr.corrID, hdr.clientID)
	}
	if hdr.version < api.min || hdr.version > api.max {
		if hdr.key == apiVersionsKey {
			// Kafka answers an ApiVersions it cannot parse with a v0
			// response carrying UNSUPPORTED_VERSION and its ranges, so
			// newer clients retry with a version it knows.
			return c.respond(hdr, unsupportedAPIVersions())
		}
		return fmt.Errorf("server: %s version %d not supported (have %d-%d; client %q)", api.name, hdr.version, api.min, api.max, hdr.clientID)
	}
	req := kmsg.RequestForKey(hdr.key)
	req.SetVersion(hdr.version)
	if req.IsFlexible() { // flexible requests carry tagged fields in their header
		r := kbin.Reader{Src: body}
		kmsg.SkipTags(&r)
		if !r.Ok() {
			return fmt.Errorf("server: %s v%d: bad request header tags", api.name, hdr.version)
		}
		body = r.Src
	}
	if err := req.ReadFrom(body); err != nil {
		return fmt.Errorf("server: %s v%d: malformed request (client %q): %w", api.name, hdr.version, hdr.clientID, err)
	}
	// Decoded: only Produce keeps using its frame (the records are
	// appended from it), so only Produce keeps the frame's size counted.
	keep := int64(0)
	if hdr.key == produceKey {
		keep = int64(len(c.frame.B))
	}
	c.keepBudget(keep)
	resp, err := api.handle(c, &hdr, req)
	if waits, deadline := c.takeCommitWaits(); err == nil && resp != nil && (len(waits) > 0 || c.pipe != nil) {
		// A produce waiting for its records to be committed, or one
		// answered behind such: in order, from the pipeline.
		c.releaseViews()
		return c.pipelineProduce(pendingProduce{hdr: hdr, resp: resp, waits: waits, deadline: deadline, start: start})
	}
	if err == nil {
		c.s.metrics.request(hdr.key, time.Since(start))
		if resp != nil {
			err = c.respond(hdr, resp)
		}
		if err == nil && c.closeAfter != nil {
			err, c.closeAfter = c.closeAfter, nil
		}
	}
	c.releaseViews()
	return err
}

func parseHeader(b []byte) (reqHeader, []byte, error) {
	r := kbin.Reader{Src: b}
	h := reqHeader{key: r.Int16(), version: r.Int16(), corrID: r.Int32()}
	if n := r.Int16(); n > 0 {
		h.clientID = string(r.Span(int(n)))
	}
	if !r.Ok() {
		return h, nil, errors.New("server: request header cut short")
	}
	return h, r.Src, nil
}

// releaseViews gives back the segment views the request took, once its
// response is written (or was never sent).
func (c *conn) releaseViews() {
	for i := range c.views {
		c.views[i].Release()
	}
	clear(c.views)
	c.views = c.views[:0]
}

// respond encodes resp with its response header and size prefix and writes
// it with one writev; Fetch record bytes go to the socket from the segment
// views in c.views, uncopied. A failed write ends the connection.
func (c *conn) respond(hdr reqHeader, resp kmsg.Response) error {
	buf := bytebufferpool.Get()
	defer bytebufferpool.Put(buf)
	b := append(buf.B[:0], 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(hdr.corrID))
	// Response header v1 (tagged fields) goes with flexible versions,
	// except for ApiVersions whose response header is always v0 so that
	// a client can read it before knowing the broker's versions.
	if resp.IsFlexible() && hdr.key != apiVersionsKey {
		b = append(b, 0)
	}
	splices := c.splices[:0]
	if fr, ok := resp.(*kmsg.FetchResponse); ok {
		b, splices = wire.AppendFetchResponse(b, fr, splices)
	} else {
		b = resp.AppendTo(b)
	}
	binary.BigEndian.PutUint32(b, uint32(wire.Size(b, splices)-sizePrefix))
	buf.B = b
	c.bufs = wire.Buffers(b, splices, c.bufs[:0])
	w := c.bufs // WriteTo consumes the slice it is called on
	// A client that stops reading its answers is cut after the same idle
	// time as one that stops sending.
	c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.ConnectionsMaxIdle))
	var n int64
	var err error
	if c.tlsOut == nil {
		n, err = w.WriteTo(c.rw)
	} else {
		n, err = w.WriteTo(c.tlsOut)
		if err == nil {
			err = c.tlsOut.Flush()
		}
	}
	c.s.metrics.netOut.Add(float64(n))
	clear(splices)
	c.splices = splices[:0]
	clear(c.bufs)
	c.bufs = c.bufs[:0]
	if err != nil {
		return fmt.Errorf("%w: %w", errClientGone, err)
	}
	return nil
}
