// Package auth owns who a connection is and what it may do: the
// Principal a connection acts as, and the ACL Authorizer with Kafka's
// semantics (KIP-11 ACLs, KIP-140 ACL admin APIs, KIP-290 prefixed
// patterns). TLS configuration, SASL mechanisms and the credential store
// belong here too. It imports only the standard library (and framedfile
// for its files), so that the server and, later, the cluster layer share
// one authorizer.
//
// # Evaluation
//
// Authorize follows Kafka's StandardAuthorizer:
//
//   - a super user (super.users) may do everything;
//   - the bindings of a resource are those of its literal name, of the
//     literal "*" and of every PREFIXED pattern that is a prefix of its
//     name;
//   - among those, a binding applies if its principal is the caller or
//     User:*, and its host the caller's address or *;
//   - a DENY that applies for the operation (or All) wins;
//   - else an ALLOW that applies for the operation, All or an operation
//     that implies it (Describe is implied by Read, Write, Delete and
//     Alter; DescribeConfigs by AlterConfigs) allows;
//   - else, if the resource has no binding at all (for anybody),
//     allow.everyone.if.no.acl.found decides (false by default);
//   - else it is denied.
//
// Hosts are compared as strings in canonical form: bindings store an IP
// address as net/netip prints it (IPv4-mapped addresses as IPv4), and the
// server passes the client's address in the same form.
//
// Authorize reads an immutable snapshot through one atomic load, takes no
// lock and allocates nothing; a change builds a new snapshot and swaps
// it in, so it takes effect on every connection's next request.
//
// # The ACL file
//
// meta/acls in the data dir holds every binding, replaced as a whole on
// every change (framedfile: temp file, fsync, rename, fsync dir) before the
// change takes effect or is acknowledged. The frame is framedfile's with
// magic "TACL" and version 1; its payload:
//
//	+----------+------------------ ... ------------------+
//	| count    | binding × count                         |
//	| u32 BE   |                                         |
//	+----------+------------------ ... ------------------+
//
//	binding:
//	+----------+----------+----------+------------+------+------+------+
//	| resource | pattern  | op       | permission | name | prin | host |
//	| type u8  | type u8  | u8       | u8         | str  | str  | str  |
//	+----------+----------+----------+------------+------+------+------+
//
//	str: uvarint length, then that many bytes (UTF-8).
//
// The one-byte enums are Kafka's wire codes. Every binding read must be
// one Create would accept, in canonical form: a file that does not decode
// is an error that stops the broker, never an empty (open or closed) ACL
// set.
//
// # Backends
//
// The credential store and the authorizer keep their data in the data
// dir's files by default (meta/scram-credentials, meta/acls: a single
// broker). Each also takes a backend, a small interface declared here
// (CredentialBackend, ACLBackend), so that a cluster keeps them in its
// metadata store instead; the server adapts the cluster's store to them
// (auth imports no cluster code). CredentialStore.SetBackend and
// Authorizer.UseBackend switch while connections are served. With an ACL
// backend the authorizer still answers from its in-memory index: its
// owner calls Refresh when the backend reports a change, and Refresh
// rebuilds the index only when ACLVersion moved. Create and Delete go to
// the backend, which decides against the stored bindings (a binding
// stored by another broker is not created twice; Delete returns what the
// backend removed), then refresh.
//
// # Connections
//
// The security protocols of Kafka's listeners (PLAINTEXT, SSL,
// SASL_PLAINTEXT, SASL_SSL) are SecurityProtocol. Until a connection
// authenticates it acts as User:ANONYMOUS, as in Kafka.
package auth
