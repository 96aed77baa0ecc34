package cluster

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// etcdLogLevel is the least severe etcd (zap) entry passed on: etcd is
// chatty at info, and a broker's log is for the broker's operator.
const etcdLogLevel = zapcore.WarnLevel

// quietEtcdMessages are etcd warnings that are expected in the way
// Tributary runs etcd and say nothing an operator can act on; they are
// passed on at debug.
var quietEtcdMessages = []string{
	// one client port serves gRPC and HTTP: we need no HTTP API port.
	"Running http and grpc server on single port. This is not recommended for production.",
	// the token of etcd's own auth, which Tributary does not turn on.
	"simple token is not cryptographically signed",
}

// newZapLogger returns a zap logger that writes etcd's entries of
// etcdLogLevel and above to l, tagged component=etcd. A nil l discards.
// Once stopping is set (nil: never), every entry is passed on at debug:
// etcd reports its own orderly shutdown as errors ("use of closed network
// connection", "server is stopping").
func newZapLogger(l *slog.Logger, stopping *atomic.Bool) *zap.Logger {
	if l == nil {
		return zap.NewNop()
	}
	return zap.New(&slogCore{h: l.Handler().WithAttrs([]slog.Attr{slog.String("component", "etcd")}), stopping: stopping})
}

// slogCore is a zapcore.Core over a slog.Handler.
type slogCore struct {
	h        slog.Handler
	stopping *atomic.Bool
}

func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= etcdLogLevel }

func (c *slogCore) With(fs []zapcore.Field) zapcore.Core {
	return &slogCore{h: c.h.WithAttrs(zapAttrs(fs)), stopping: c.stopping}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	lvl := slogLevel(e.Level)
	if slices.Contains(quietEtcdMessages, e.Message) || c.stopping != nil && c.stopping.Load() {
		lvl = slog.LevelDebug
	}
	ctx := context.Background()
	if !c.h.Enabled(ctx, lvl) {
		return nil
	}
	r := slog.NewRecord(e.Time, lvl, e.Message, 0)
	r.AddAttrs(zapAttrs(fs)...)
	return c.h.Handle(ctx, r)
}

func (c *slogCore) Sync() error { return nil }

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l >= zapcore.ErrorLevel:
		return slog.LevelError
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}

// zapAttrs turns zap fields into slog attributes, in key order.
func zapAttrs(fs []zapcore.Field) []slog.Attr {
	if len(fs) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fs {
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		attrs = append(attrs, slog.Any(k, enc.Fields[k]))
	}
	return attrs
}
