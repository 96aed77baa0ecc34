package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-io/tributary/auth"
)

// Listener is one of Kafka's named listeners: "SASL_SSL://127.0.0.1:9094"
// in listeners, with its security protocol from
// listener.security.protocol.map, its advertised address from
// advertised.listeners, and its ssl.* and sasl.* settings (the broker's,
// overridden by listener.name.<name>.<setting>).
type Listener struct {
	// Name is the listener's name, upper case as Kafka keeps it.
	Name string
	// Protocol is what the listener speaks.
	Protocol auth.SecurityProtocol
	// Addr is the host:port to bind; an empty host binds every interface.
	Addr string
	// Advertise is the host:port clients of this listener are told to
	// connect to; empty means Addr (with the host name for an unspecified
	// host).
	Advertise string
	// Security holds the listener's ssl.* and sasl.* settings by their
	// broker-wide names, the listener.name.<name>. prefix removed.
	Security map[string]string
}

// DefaultListenerName is the name of the one listener of --listen.
const DefaultListenerName = "PLAINTEXT"

// controllerListenerName is KRaft's quorum listener: no client listener
// here, left out of listeners as controller.listener.names is.
const controllerListenerName = "CONTROLLER"

// ErrListenerConfig is wrapped by every error of the listener settings.
var ErrListenerConfig = errors.New("server: listeners")

// defaultProtocolMap is listener.security.protocol.map's default: each
// protocol's name maps to itself.
func defaultProtocolMap() map[string]auth.SecurityProtocol {
	return map[string]auth.SecurityProtocol{
		"PLAINTEXT": auth.Plaintext, "SSL": auth.SSL,
		"SASL_PLAINTEXT": auth.SASLPlaintext, "SASL_SSL": auth.SASLSSL,
	}
}

// parseProtocolMap reads listener.security.protocol.map, "NAME:PROTOCOL"
// pairs separated by commas. Empty gives the default map.
func parseProtocolMap(v string) (map[string]auth.SecurityProtocol, error) {
	if strings.TrimSpace(v) == "" {
		return defaultProtocolMap(), nil
	}
	m := make(map[string]auth.SecurityProtocol)
	for _, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		name, proto, ok := strings.Cut(e, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("%w: listener.security.protocol.map entry %q: want NAME:PROTOCOL", ErrListenerConfig, e)
		}
		p, err := auth.ParseSecurityProtocol(proto)
		if err != nil {
			return nil, fmt.Errorf("%w: listener.security.protocol.map entry %q: %w", ErrListenerConfig, e, err)
		}
		m[strings.ToUpper(strings.TrimSpace(name))] = p
	}
	return m, nil
}

// listenerEntry is one NAME://host:port of listeners or
// advertised.listeners.
type listenerEntry struct{ name, addr string }

// parseListenerList reads a comma-separated list of NAME://host:port
// (listeners and advertised.listeners), each name once.
func parseListenerList(setting, v string) ([]listenerEntry, error) {
	var out []listenerEntry
	seen := map[string]bool{}
	for _, l := range strings.Split(v, ",") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		name, addr, ok := strings.Cut(l, "://")
		if !ok || name == "" {
			return nil, fmt.Errorf("%w: %s entry %q: want NAME://host:port", ErrListenerConfig, setting, l)
		}
		if _, _, err := splitHostPort(addr); err != nil {
			return nil, fmt.Errorf("%w: %s entry %q: %w", ErrListenerConfig, setting, l, err)
		}
		name = strings.ToUpper(name)
		if seen[name] {
			return nil, fmt.Errorf("%w: %s names listener %s twice", ErrListenerConfig, setting, name)
		}
		seen[name] = true
		out = append(out, listenerEntry{name, addr})
	}
	return out, nil
}

// ResolveListeners builds the listeners of Kafka's settings: listeners,
// advertised.listeners, listener.security.protocol.map and the security
// settings, broker-wide and per listener (listener.name.<name>.<setting>,
// the name in any case). A CONTROLLER listener is KRaft's and is left out.
func ResolveListeners(listeners, advertised, protocolMap string, security map[string]string) ([]Listener, error) {
	protos, err := parseProtocolMap(protocolMap)
	if err != nil {
		return nil, err
	}
	entries, err := parseListenerList(kafkaListeners, listeners)
	if err != nil {
		return nil, err
	}
	adv, err := parseListenerList(kafkaAdvertisedListeners, advertised)
	if err != nil {
		return nil, err
	}
	var out []Listener
	ports := map[string]string{}
	for _, e := range entries {
		if e.name == controllerListenerName {
			continue
		}
		p, ok := protos[e.name]
		if !ok {
			return nil, fmt.Errorf("%w: listener %s has no security protocol: name it in listener.security.protocol.map (%s:SASL_SSL, say)", ErrListenerConfig, e.name, e.name)
		}
		_, port, _ := net.SplitHostPort(e.addr)
		if other, dup := ports[port]; dup && port != "0" {
			return nil, fmt.Errorf("%w: listeners %s and %s both use port %s", ErrListenerConfig, other, e.name, port)
		}
		ports[port] = e.name
		out = append(out, Listener{Name: e.name, Protocol: p, Addr: e.addr, Security: listenerSecurity(e.name, security)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no client listener in %q", ErrListenerConfig, listeners)
	}
	for _, a := range adv {
		if a.name == controllerListenerName {
			continue
		}
		i := indexListener(out, a.name)
		if i < 0 {
			return nil, fmt.Errorf("%w: advertised.listeners names %s, which is not in listeners", ErrListenerConfig, a.name)
		}
		if h, _, _ := net.SplitHostPort(a.addr); h == "" || net.ParseIP(h).IsUnspecified() {
			return nil, fmt.Errorf("%w: advertised.listeners %s://%s: clients cannot dial an unspecified host", ErrListenerConfig, a.name, a.addr)
		}
		out[i].Advertise = a.addr
	}
	for name := range security {
		ln, _, ok := cutListenerOverride(name)
		if ok && indexListener(out, ln) < 0 && ln != controllerListenerName {
			return nil, fmt.Errorf("%w: %s is for listener %s, which is not in listeners", ErrListenerConfig, name, ln)
		}
	}
	return out, nil
}

func indexListener(ls []Listener, name string) int {
	for i := range ls {
		if ls[i].Name == name {
			return i
		}
	}
	return -1
}

// listenerOverridePrefix starts Kafka's per-listener settings,
// listener.name.<name>.<setting>.
const listenerOverridePrefix = "listener.name."

// cutListenerOverride splits listener.name.<name>.<setting> into the
// listener's name (upper case) and the setting.
func cutListenerOverride(name string) (listener, setting string, ok bool) {
	rest, ok := strings.CutPrefix(name, listenerOverridePrefix)
	if !ok {
		return "", "", false
	}
	listener, setting, ok = strings.Cut(rest, ".")
	if !ok || listener == "" || setting == "" {
		return "", "", false
	}
	return strings.ToUpper(listener), setting, true
}

// listenerSecurity is the security settings of listener name: the
// broker-wide ones with the listener's overrides on top.
func listenerSecurity(name string, security map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range security {
		if !strings.HasPrefix(k, listenerOverridePrefix) {
			m[k] = v
		}
	}
	for k, v := range security {
		if ln, setting, ok := cutListenerOverride(k); ok && ln == name {
			m[setting] = v
		}
	}
	return m
}

// FormatListeners writes ls back as a listeners value.
func FormatListeners(ls []Listener) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.Name + "://" + l.Addr
	}
	return strings.Join(parts, ",")
}

// listener is a Listener being served: what each of its connections needs.
// Fixed once its accept loop starts, so connections read it without a lock.
type listener struct {
	name     string
	protocol auth.SecurityProtocol
	// advHost and advPort are what Metadata, FindCoordinator and
	// DescribeCluster tell a client of this listener.
	advHost string
	advPort int32
	// tls is the TLS side of an SSL or SASL_SSL listener; nil on
	// PLAINTEXT and SASL_PLAINTEXT ones.
	tls *auth.ServerTLS
	// tlsConfig is tls.Config(), made once.
	tlsConfig *tls.Config
	// mechanisms are the SASL mechanisms of a SASL_PLAINTEXT or SASL_SSL
	// listener (sasl.enabled.mechanisms); nil on the others.
	mechanisms []string
	// oauth checks the tokens of OAUTHBEARER, when it is enabled.
	oauth *auth.OAuthBearerValidator
	// reauth is each mechanism's session lifetime on this listener
	// (listenerReauth); 0 for none.
	reauth map[string]time.Duration
}

// newListener resolves the advertised address of l once bound to bound.
func (s *Server) newListener(l Listener, bound net.Addr) (*listener, error) {
	sl := &listener{name: l.Name, protocol: l.Protocol}
	if l.Protocol.TLS() {
		st, err := auth.NewServerTLS(l.Security)
		if err != nil {
			return nil, fmt.Errorf("server: listener %s: %w", l.Name, err)
		}
		st.OnReloadError = func(err error) {
			s.logger.Error("server: TLS files changed but do not load; the previous certificates stay in use", "listener", l.Name, "err", err)
		}
		sl.tls, sl.tlsConfig = st, st.Config()
		s.metrics.security.tlsHandshakeFailures.WithLabelValues(l.Name) // a zero series from the start, for rate()
	}
	if l.Protocol.SASL() {
		ms, err := auth.ParseSASLMechanisms(l.Security[auth.SASLEnabledMechanisms])
		if err != nil {
			return nil, fmt.Errorf("server: listener %s: %w", l.Name, err)
		}
		sl.mechanisms = ms
		if sl.reauth, err = listenerReauth(l.Security, ms, s.cfg.ConnectionsMaxReauth); err != nil {
			return nil, fmt.Errorf("server: listener %s: %w", l.Name, err)
		}
		if slices.Contains(ms, auth.MechanismOAuthBearer) {
			if sl.oauth, err = auth.NewOAuthBearerValidator(l.Security); err != nil {
				return nil, fmt.Errorf("server: listener %s: %w", l.Name, err)
			}
		}
		for _, m := range ms {
			s.metrics.security.authentications.WithLabelValues(l.Name, m, authSucceeded)
			s.metrics.security.authentications.WithLabelValues(l.Name, m, authFailed)
		}
	}
	if l.Advertise != "" {
		host, port, err := splitHostPort(l.Advertise)
		if err != nil {
			return nil, fmt.Errorf("server: listener %s: advertise address: %w", l.Name, err)
		}
		sl.advHost, sl.advPort = host, port
		return sl, nil
	}
	host, port, err := splitHostPort(bound.String())
	if err != nil {
		return nil, fmt.Errorf("server: listener %s: %w", l.Name, err)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		// Listening on every interface: 0.0.0.0 is no address a
		// client can dial. Like Kafka, advertise the host name.
		if name, herr := os.Hostname(); herr == nil && name != "" {
			host = name
		}
		s.logger.Warn("server: listening on all interfaces; advertising the host name (set --advertise or advertised.listeners if clients cannot resolve it)",
			"listener", l.Name, "advertise", net.JoinHostPort(host, strconv.Itoa(int(port))))
	}
	sl.advHost, sl.advPort = host, port
	return sl, nil
}

// reauthSetting is connections.max.reauth.ms (KIP-368) as a listener's
// setting: listener.name.<name>.connections.max.reauth.ms, or for one
// SASL mechanism of the listener
// listener.name.<name>.<mechanism>.connections.max.reauth.ms (the
// mechanism in lower case, as Kafka writes it: scram-sha-256).
const reauthSetting = BrokerConnectionsMaxReauthMs

// reauthMechanism says whether setting, a listener's setting with the
// listener.name.<name>. prefix removed, is connections.max.reauth.ms, and
// for which mechanism ("" for all of the listener's).
func reauthMechanism(setting string) (mechanism string, ok bool) {
	if setting == reauthSetting {
		return "", true
	}
	m, ok := strings.CutSuffix(setting, "."+reauthSetting)
	if !ok || m == "" || strings.Contains(m, ".") {
		return "", false
	}
	return strings.ToUpper(m), true
}

// checkReauthSetting checks a listener's connections.max.reauth.ms: a
// mechanism served here, a count of milliseconds, 0 or more.
func checkReauthSetting(setting, value string) error {
	m, _ := reauthMechanism(setting)
	if m != "" {
		if _, err := auth.ParseSASLMechanisms(m); err != nil {
			return fmt.Errorf("%w: mechanism %s is not served (served: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)", auth.ErrUnknownMechanism, m)
		}
	}
	if _, err := parseDuration(strings.TrimSpace(value), time.Millisecond); err != nil {
		return fmt.Errorf("want milliseconds, 0 or more: %w", err)
	}
	return nil
}

// listenerReauth resolves the session lifetime of each of a listener's
// SASL mechanisms as Kafka does: the listener's
// <mechanism>.connections.max.reauth.ms, else its
// connections.max.reauth.ms, else the broker's (def).
func listenerReauth(security map[string]string, mechanisms []string, def time.Duration) (map[string]time.Duration, error) {
	for k, v := range security {
		if _, ok := reauthMechanism(k); ok {
			if err := checkReauthSetting(k, v); err != nil {
				return nil, fmt.Errorf("%s=%s: %w", k, v, err)
			}
		}
	}
	lifetime := func(setting string) (time.Duration, bool) {
		v, ok := security[setting]
		if !ok {
			return 0, false
		}
		d, _ := parseDuration(strings.TrimSpace(v), time.Millisecond)
		return d, true
	}
	if d, ok := lifetime(reauthSetting); ok {
		def = d
	}
	out := make(map[string]time.Duration, len(mechanisms))
	for _, m := range mechanisms {
		out[m] = def
		if d, ok := lifetime(strings.ToLower(m) + "." + reauthSetting); ok {
			out[m] = d
		}
	}
	return out, nil
}
