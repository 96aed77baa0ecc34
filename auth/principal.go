package auth

import (
	"fmt"
	"strings"
)

// Principal is who a connection acts as: Kafka's KafkaPrincipal, a type
// ("User") and a name. A connection starts as Anonymous and becomes the
// authenticated user once SASL or mutual TLS says who it is.
type Principal struct {
	Type, Name string
}

// PrincipalTypeUser is the only principal type Kafka's built-in
// authentication produces.
const PrincipalTypeUser = "User"

// Anonymous is the principal of a connection that did not authenticate
// (Kafka's KafkaPrincipal.ANONYMOUS).
var Anonymous = Principal{Type: PrincipalTypeUser, Name: "ANONYMOUS"}

// WildcardPrincipal, "User:*" in an ACL, matches every user.
var WildcardPrincipal = Principal{Type: PrincipalTypeUser, Name: Wildcard}

// String is "Type:Name", as Kafka writes principals in ACLs and in
// super.users.
func (p Principal) String() string { return p.Type + ":" + p.Name }

// ParsePrincipal reads "Type:Name" (Kafka's SecurityUtils.parseKafkaPrincipal):
// the type is what comes before the first colon, the name all the rest,
// and neither may be empty.
func ParsePrincipal(s string) (Principal, error) {
	typ, name, ok := strings.Cut(s, ":")
	if !ok || typ == "" || name == "" {
		return Principal{}, fmt.Errorf("%w: principal %q: want Type:Name, as User:alice", ErrInvalidACL, s)
	}
	return Principal{Type: typ, Name: name}, nil
}
