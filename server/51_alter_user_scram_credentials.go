package server

// AlterUserScramCredentials, version 0 (KIP-554).
//
//	v0  flexible; deletions (user, mechanism) and upsertions (user,
//	    mechanism, iterations, salt, salted password)
//
// The client salts and hashes the password; the broker derives StoredKey
// and ServerKey from the salted password and stores those with the salt and
// iteration count (meta/scram-credentials), never the salted password.
// Kafka's rules, one result per user: a user named twice for one mechanism
// is DUPLICATE_RESOURCE, an unknown mechanism UNSUPPORTED_SASL_MECHANISM,
// iterations outside 4096-16384, an empty name, salt or salted password
// UNACCEPTABLE_CREDENTIAL, deleting a credential that does not exist
// RESOURCE_NOT_FOUND. A user with any error has none of its changes made;
// on a single broker the others' are written in one atomic replace of the
// file, answered once it is durable; in a cluster each user's changes are
// one etcd transaction, which decides RESOURCE_NOT_FOUND against the
// stored credentials (cluster_auth.go). Needs Alter on the cluster
// (CLUSTER_AUTHORIZATION_FAILED for every user otherwise).

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
)

func init() { register(51, 0, 0, handleAlterUserScramCredentials) }

func handleAlterUserScramCredentials(c *conn, h *reqHeader, req *kmsg.AlterUserSCRAMCredentialsRequest) (kmsg.Response, error) {
	s := c.s
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	type userResult struct {
		code    int16
		msg     *string
		changes []auth.CredentialChange
	}
	var order []string
	users := map[string]*userResult{}
	user := func(name string) *userResult {
		u, ok := users[name]
		if !ok {
			u = &userResult{}
			users[name] = u
			order = append(order, name)
		}
		return u
	}
	fail := func(u *userResult, code int16, format string, args ...any) {
		if u.code == 0 {
			u.code, u.msg = code, adminMsg(format, args...)
		}
	}
	type pair struct {
		name string
		mech int8
	}
	pairs := map[pair]int{}
	for _, d := range req.Deletions {
		pairs[pair{d.Name, d.Mechanism}]++
	}
	for _, up := range req.Upsertions {
		pairs[pair{up.Name, up.Mechanism}]++
	}
	check := func(name string, mech int8) (*userResult, bool) {
		u := user(name)
		switch m := auth.ScramMechanism(mech); {
		case name == "":
			fail(u, kerr.UnacceptableCredential.Code, "Username must not be empty")
		case pairs[pair{name, mech}] > 1:
			fail(u, kerr.DuplicateResource.Code, "A user credential cannot be altered twice in the same request")
		case !m.Valid():
			fail(u, kerr.UnsupportedSaslMechanism.Code, "Unknown SCRAM mechanism %d", mech)
		}
		return u, u.code == 0
	}

	if !c.authorizeCluster(h.key, auth.OpAlter) {
		for _, d := range req.Deletions {
			fail(user(d.Name), kerr.ClusterAuthorizationFailed.Code, "Alter on the cluster is required to change SCRAM credentials")
		}
		for _, up := range req.Upsertions {
			fail(user(up.Name), kerr.ClusterAuthorizationFailed.Code, "Alter on the cluster is required to change SCRAM credentials")
		}
		req.Deletions, req.Upsertions = nil, nil
	}
	s.scramMu.Lock()
	defer s.scramMu.Unlock()
	for _, d := range req.Deletions {
		u, ok := check(d.Name, d.Mechanism)
		if !ok {
			continue
		}
		m := auth.ScramMechanism(d.Mechanism)
		if _, found := s.creds.Lookup(d.Name, m); !found {
			fail(u, kerr.ResourceNotFound.Code, "Attempt to delete a user credential that does not exist")
			continue
		}
		u.changes = append(u.changes, auth.CredentialChange{User: d.Name, Mechanism: m, Delete: true})
	}
	for _, up := range req.Upsertions {
		u, ok := check(up.Name, up.Mechanism)
		if !ok {
			continue
		}
		switch {
		case up.Iterations < auth.MinScramIterations:
			fail(u, kerr.UnacceptableCredential.Code, "Too few iterations: %d (at least %d)", up.Iterations, auth.MinScramIterations)
		case up.Iterations > auth.MaxScramIterations:
			fail(u, kerr.UnacceptableCredential.Code, "Too many iterations: %d (at most %d)", up.Iterations, auth.MaxScramIterations)
		case len(up.Salt) == 0:
			fail(u, kerr.UnacceptableCredential.Code, "Salt must not be empty")
		case len(up.SaltedPassword) == 0:
			fail(u, kerr.UnacceptableCredential.Code, "Salted password must not be empty")
		default:
			m := auth.ScramMechanism(up.Mechanism)
			u.changes = append(u.changes, auth.CredentialChange{User: up.Name, Mechanism: m,
				Credential: auth.CredentialFromSaltedPassword(m, up.Salt, up.SaltedPassword, int(up.Iterations))})
		}
	}
	var groups [][]auth.CredentialChange
	var applied []string // applied[i]: the user of groups[i]
	for _, name := range order {
		if u := users[name]; u.code == 0 && len(u.changes) > 0 {
			groups = append(groups, u.changes)
			applied = append(applied, name)
		}
	}
	for i, err := range s.creds.ApplyEach(groups) {
		switch u := users[applied[i]]; {
		case err == nil:
		case errors.Is(err, auth.ErrCredentialNotFound):
			// Deleted meanwhile through another broker of the cluster.
			fail(u, kerr.ResourceNotFound.Code, "Attempt to delete a user credential that does not exist")
		default:
			s.logger.Error("server: the SCRAM credential store could not be written; the user's changes were not made", "user", applied[i], "err", err)
			fail(u, kerr.KafkaStorageError.Code, "The credential store could not be written; nothing was changed")
		}
	}
	for _, name := range order {
		u := users[name]
		r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		r.User, r.ErrorCode, r.ErrorMessage = name, u.code, u.msg
		s.metrics.errorCode(h.key, r.ErrorCode)
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}
