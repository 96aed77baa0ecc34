package auth

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrPrincipalMapping is wrapped by the errors of ssl.principal.mapping.rules:
// a rule that does not parse, or a subject no rule maps.
var ErrPrincipalMapping = errors.New("auth: ssl.principal.mapping.rules")

// SSLPrincipalMapper turns the subject of a client certificate (its
// distinguished name, "CN=alice,OU=eng,O=example") into the name of the
// principal, as Kafka's ssl.principal.mapping.rules do: the first rule
// that matches the whole subject decides.
//
//	DEFAULT                         the subject as it is
//	RULE:pattern/replacement/       the replacement ($1, $2 for the groups)
//	RULE:pattern/replacement/L      the same, lower case (U: upper case)
//
// Rules are separated by commas (a comma inside a pattern is part of the
// pattern); a '/' inside a pattern or replacement is written "\/". With no
// rules, DEFAULT applies; a subject that no rule matches is refused.
type SSLPrincipalMapper struct {
	rules []sslRule
}

type sslRule struct {
	isDefault   bool
	pattern     *regexp.Regexp
	replacement string
	toLower     bool
	toUpper     bool
}

// ParseSSLPrincipalMappingRules reads ssl.principal.mapping.rules; empty
// means DEFAULT.
func ParseSSLPrincipalMappingRules(s string) (*SSLPrincipalMapper, error) {
	m := &SSLPrincipalMapper{}
	rest := strings.TrimSpace(s)
	if rest == "" {
		rest = "DEFAULT"
	}
	for rest != "" {
		var r sslRule
		switch {
		case strings.HasPrefix(rest, "DEFAULT"):
			r.isDefault = true
			rest = rest[len("DEFAULT"):]
		case strings.HasPrefix(rest, "RULE:"):
			var pattern, flags string
			var err error
			pattern, rest, err = cutUnescaped(rest[len("RULE:"):], '/')
			if err != nil {
				return nil, fmt.Errorf("%w: rule pattern: %w", ErrPrincipalMapping, err)
			}
			r.replacement, rest, err = cutUnescaped(rest, '/')
			if err != nil {
				return nil, fmt.Errorf("%w: rule replacement: %w", ErrPrincipalMapping, err)
			}
			if len(rest) > 0 && (rest[0] == 'L' || rest[0] == 'U') {
				flags, rest = rest[:1], rest[1:]
			}
			r.toLower, r.toUpper = flags == "L", flags == "U"
			// Kafka matches the whole subject (Matcher.matches).
			r.pattern, err = regexp.Compile("^(?:" + pattern + ")$")
			if err != nil {
				return nil, fmt.Errorf("%w: rule pattern %q: %w", ErrPrincipalMapping, pattern, err)
			}
			r.replacement = strings.ReplaceAll(r.replacement, `\/`, "/")
		default:
			return nil, fmt.Errorf("%w: %q: want DEFAULT or RULE:pattern/replacement/[LU]", ErrPrincipalMapping, rest)
		}
		m.rules = append(m.rules, r)
		rest = strings.TrimSpace(rest)
		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return nil, fmt.Errorf("%w: %q: rules are separated by commas", ErrPrincipalMapping, rest)
		}
		rest = strings.TrimSpace(rest[1:])
	}
	return m, nil
}

// cutUnescaped splits s at the first sep not preceded by a backslash.
func cutUnescaped(s string, sep byte) (before, after string, err error) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			return strings.ReplaceAll(s[:i], `\/`, "/"), s[i+1:], nil
		}
	}
	return "", "", fmt.Errorf("no closing %q in %q", sep, s)
}

// Name is the principal name of subject, by the first rule that matches.
func (m *SSLPrincipalMapper) Name(subject string) (string, error) {
	for _, r := range m.rules {
		if r.isDefault {
			return subject, nil
		}
		idx := r.pattern.FindStringSubmatchIndex(subject)
		if idx == nil {
			continue
		}
		out := string(r.pattern.ExpandString(nil, r.replacement, subject, idx))
		switch {
		case r.toLower:
			out = strings.ToLower(out)
		case r.toUpper:
			out = strings.ToUpper(out)
		}
		return out, nil
	}
	return "", fmt.Errorf("%w: no rule maps the subject %q", ErrPrincipalMapping, subject)
}
