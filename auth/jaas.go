package auth

import (
	"errors"
	"fmt"
	"strings"
)

// Kafka's login modules, as sasl.jaas.config names them: the client side
// of a SASL mechanism with its credentials (the broker's inter-broker
// client reads them from listener.name.<listener>.<mechanism>.sasl.jaas.config,
// the client commands from --command-config's sasl.jaas.config).
const (
	JAASScramModule = "org.apache.kafka.common.security.scram.ScramLoginModule"
	JAASPlainModule = "org.apache.kafka.common.security.plain.PlainLoginModule"
	JAASOAuthModule = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
)

// ParseJAAS reads one login module of a JAAS configuration, as Kafka's
// sasl.jaas.config holds it:
//
//	<module class> <required|requisite|sufficient|optional> key=value ... ;
//
// where a value is a word or a double-quoted string (\ escapes the next
// character). Its errors say what is wrong and never show a value.
func ParseJAAS(config string) (module string, opts map[string]string, err error) {
	toks, err := jaasTokens(config)
	if err != nil {
		return "", nil, err
	}
	if len(toks) < 3 || toks[0].quoted || toks[1].quoted {
		return "", nil, errors.New(`want "<LoginModule class> required key=\"value\" ... ;"`)
	}
	module = toks[0].s
	switch module {
	case JAASScramModule, JAASPlainModule, JAASOAuthModule:
	default:
		return "", nil, fmt.Errorf("login module %s: want %s, %s or %s", module, JAASScramModule, JAASPlainModule, JAASOAuthModule)
	}
	switch strings.ToLower(toks[1].s) {
	case "required", "requisite", "sufficient", "optional":
	default:
		return "", nil, fmt.Errorf("control flag %s: want required", toks[1].s)
	}
	opts = map[string]string{}
	rest := toks[2:]
	for len(rest) > 0 {
		if rest[0].s == ";" && !rest[0].quoted {
			if len(rest) > 1 {
				return "", nil, errors.New("one login module only: text after the closing ;")
			}
			return module, opts, nil
		}
		if len(rest) < 3 || rest[0].quoted || rest[1].s != "=" || rest[1].quoted || (rest[2].s == ";" && !rest[2].quoted) {
			return "", nil, fmt.Errorf("option %d: want key=value", len(opts)+1)
		}
		opts[rest[0].s] = rest[2].s
		rest = rest[3:]
	}
	return "", nil, errors.New("missing the closing ;")
}

type jaasToken struct {
	s      string
	quoted bool
}

func jaasTokens(config string) ([]jaasToken, error) {
	var toks []jaasToken
	for i := 0; i < len(config); {
		c := config[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '=' || c == ';':
			toks = append(toks, jaasToken{s: string(c)})
			i++
		case c == '"':
			var b strings.Builder
			i++
			closed := false
			for i < len(config) {
				if config[i] == '\\' && i+1 < len(config) {
					b.WriteByte(config[i+1])
					i += 2
					continue
				}
				if config[i] == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(config[i])
				i++
			}
			if !closed {
				return nil, errors.New("a quoted value has no closing quote")
			}
			toks = append(toks, jaasToken{s: b.String(), quoted: true})
		default:
			j := i
			for j < len(config) && !strings.ContainsRune(" \t\r\n=;\"", rune(config[j])) {
				j++
			}
			toks = append(toks, jaasToken{s: config[i:j]})
			i = j
		}
	}
	return toks, nil
}
