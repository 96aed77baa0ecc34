package auth

// Principal is who a connection acts as: Kafka's KafkaPrincipal, a type
// and a name ("User:alice"). The authorizer matches ACL bindings against
// its String form.
type Principal struct {
	Type, Name string
}

// PrincipalTypeUser is the type of every principal built here, as Kafka's
// default principal builder makes them.
const PrincipalTypeUser = "User"

// Anonymous is the principal of a connection that has not authenticated:
// every PLAINTEXT connection, an SSL one without a client certificate, a
// SASL one before its handshake completes.
var Anonymous = Principal{Type: PrincipalTypeUser, Name: "ANONYMOUS"}

// User is the principal User:name.
func User(name string) Principal { return Principal{Type: PrincipalTypeUser, Name: name} }

// String is Kafka's form, "Type:Name".
func (p Principal) String() string { return p.Type + ":" + p.Name }
