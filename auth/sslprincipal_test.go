package auth

import (
	"errors"
	"testing"
)

func TestSSLPrincipalMappingRules(t *testing.T) {
	for _, tt := range []struct {
		rules, subject, want string
	}{
		{"", "CN=alice,OU=eng,O=example", "CN=alice,OU=eng,O=example"},
		{"DEFAULT", "CN=alice,O=example", "CN=alice,O=example"},
		{`RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT`, "CN=svc,OU=ServiceUsers,O=example", "svc"},
		{`RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT`, "CN=bob,OU=eng", "CN=bob,OU=eng"},
		{`RULE:^CN=(.*?),OU=(.*?),O=(.*?)$/$1@$2/L`, "CN=Alice,OU=ENG,O=example", "alice@eng"},
		{`RULE:^CN=(.*?),.*$/$1/U, DEFAULT`, "CN=alice,O=x", "ALICE"},
		{`RULE:^CN=(.*)$/users\/$1/`, "CN=carol", "users/carol"},
		// The whole subject must match, as Java's Matcher.matches.
		{`RULE:CN=(.*?),/$1/,DEFAULT`, "CN=dave,O=x", "CN=dave,O=x"},
	} {
		m, err := ParseSSLPrincipalMappingRules(tt.rules)
		if err != nil {
			t.Errorf("%s: %v", tt.rules, err)
			continue
		}
		got, err := m.Name(tt.subject)
		if err != nil || got != tt.want {
			t.Errorf("%s on %q: %q, %v; want %q", tt.rules, tt.subject, got, err, tt.want)
		}
	}
}

func TestSSLPrincipalMappingRefuses(t *testing.T) {
	for _, rules := range []string{"RULE:^CN=(.*)$/$1", "RULE:(/$1/", "DEFAULT RULE:x/y/", "KERBEROS"} {
		if _, err := ParseSSLPrincipalMappingRules(rules); !errors.Is(err, ErrPrincipalMapping) {
			t.Errorf("%q: %v, want ErrPrincipalMapping", rules, err)
		}
	}
	m, _ := ParseSSLPrincipalMappingRules(`RULE:^CN=(.*),OU=svc$/$1/`)
	if _, err := m.Name("CN=x,OU=other"); !errors.Is(err, ErrPrincipalMapping) {
		t.Errorf("unmatched subject: %v", err)
	}
}
