package server

import (
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/tributary-io/tributary/auth"
)

// Kafka's listener settings, read here and resolved together by
// BrokerSettings.Listeners once the whole file is read (a protocol map may
// come after the listeners it maps).
const (
	kafkaListenerProtocolMap = "listener.security.protocol.map"
)

// servedSecurity are the ssl.* and sasl.* settings served here, broker-wide
// and per listener (listener.name.<name>.<setting>), with what each does.
// Every other ssl.* and sasl.* name is refused with what is missing.
var servedSecurity = func() map[string]string {
	m := maps.Clone(auth.TLSSettingDocs)
	maps.Copy(m, auth.SASLSettingDocs)
	return m
}()

// applySecurity takes the listener settings and the served security
// settings; handled is false for any other name.
func (b *BrokerSettings) applySecurity(name, value string) (handled bool, err error) {
	wrap := func(err error) (bool, error) {
		if err != nil {
			return true, fmt.Errorf("server: %s=%s: %w", name, shownValue(name, value), err)
		}
		return true, nil
	}
	switch name {
	case kafkaListeners:
		_, err := parseListenerList(name, value)
		if err == nil {
			b.Listeners = value
		}
		return wrap(err)
	case kafkaAdvertisedListeners:
		_, err := parseListenerList(name, value)
		if err == nil {
			b.AdvertisedListeners = value
		}
		return wrap(err)
	case kafkaListenerProtocolMap:
		_, err := parseProtocolMap(value)
		if err == nil {
			b.ListenerProtocolMap = value
		}
		return wrap(err)
	}
	setting := name
	if _, s, ok := cutListenerOverride(name); ok {
		setting = s
		if _, ok := reauthMechanism(s); ok {
			if err := checkReauthSetting(s, value); err != nil {
				return wrap(err)
			}
			if b.Security == nil {
				b.Security = map[string]string{}
			}
			b.Security[name] = value
			return true, nil
		}
		if m, ok := jaasMechanism(s); ok {
			// The listener's login as a client of that mechanism: the
			// inter-broker user's (cluster_security.go).
			if _, err := auth.ParseSASLMechanisms(m); err != nil {
				return wrap(err)
			}
			if _, err := parseLoginJAAS(m, value); err != nil {
				return wrap(err)
			}
			if b.Security == nil {
				b.Security = map[string]string{}
			}
			b.Security[name] = value
			return true, nil
		}
	}
	if _, ok := servedSecurity[setting]; !ok {
		return false, nil
	}
	if err := auth.CheckSetting(setting, value); err != nil {
		return wrap(err)
	}
	if b.Security == nil {
		b.Security = map[string]string{}
	}
	b.Security[name] = value
	return true, nil
}

// ResolveListeners are the listeners of the settings (listeners,
// advertised.listeners, listener.security.protocol.map and the security
// settings); nil when listeners is not set, and serve's --listen decides.
func (b *BrokerSettings) ResolveListeners() ([]Listener, error) {
	if strings.TrimSpace(b.Listeners) == "" {
		if strings.TrimSpace(b.AdvertisedListeners) != "" {
			return nil, fmt.Errorf("%w: advertised.listeners is set without listeners", ErrListenerConfig)
		}
		return nil, nil
	}
	ls, err := ResolveListeners(b.Listeners, b.AdvertisedListeners, b.ListenerProtocolMap, maps.Clone(b.Security))
	if err != nil {
		return nil, err
	}
	for _, l := range ls {
		if err := checkListener(l); err != nil {
			return nil, err
		}
	}
	return ls, nil
}

// checkListener reports what l asks for that is not served.
func checkListener(l Listener) error {
	if l.Protocol.SASL() {
		if _, err := auth.ParseSASLMechanisms(l.Security[auth.SASLEnabledMechanisms]); err != nil {
			return fmt.Errorf("%w: listener %s: %w", ErrListenerConfig, l.Name, err)
		}
	}
	return nil
}

// secretSettingParts mark the names of settings whose values are secrets
// (passwords, private keys, JAAS configurations that hold passwords):
// errors and notes never show those values.
var secretSettingParts = []string{"password", "jaas.config", "keystore.key", "secret"}

// IsSecretSetting says whether the value of setting name is a secret
// (a password, a private key, a JAAS configuration) that errors, notes and
// --print-config never show.
func IsSecretSetting(name string) bool {
	for _, p := range secretSettingParts {
		if strings.Contains(name, p) {
			return true
		}
	}
	return false
}

// shownValue is value as an error may show it: quoted, or [hidden] for a
// secret setting.
func shownValue(name, value string) string {
	if IsSecretSetting(name) {
		return "[hidden]"
	}
	return strconv.Quote(value)
}
