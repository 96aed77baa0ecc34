package server

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestScramCredentialsAdmin: kadm creates, describes and deletes SCRAM
// credentials; a created user then authenticates, and the credentials
// survive a restart.
func TestScramCredentialsAdmin(t *testing.T) {
	b, _ := saslBroker(t)
	ctx := testContext(t)
	adm := kadm.NewClient(b.clientOn("PLAINTEXT"))
	altered, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "carol", Mechanism: kadm.ScramSha256, Iterations: 8192, Password: "carol-secret"},
		{User: "carol", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "carol-secret"},
		{User: "dave", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "dave-secret"},
	})
	if err != nil || altered.Error() != nil {
		t.Fatalf("alter: %v %v", err, altered.Error())
	}
	for _, mech := range []scram.Auth{{User: "carol", Pass: "carol-secret"}} {
		cl := b.clientOn("SASL_PLAINTEXT", kgo.SASL(mech.AsSha256Mechanism()))
		if err := cl.Ping(ctx); err != nil {
			t.Fatalf("carol over SCRAM-SHA-256: %v", err)
		}
	}
	described, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	carol := described["carol"]
	if len(described) != 3 || len(carol.CredInfos) != 2 || carol.CredInfos[0].Iterations != 8192 {
		t.Fatalf("described %+v", described)
	}
	if d, err := adm.DescribeUserSCRAMs(ctx, "nobody"); err != nil || !errors.Is(d["nobody"].Err, kerr.ResourceNotFound) {
		t.Fatalf("describe nobody: %v %+v", err, d)
	}
	deleted, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "dave", Mechanism: kadm.ScramSha512}, {User: "carol", Mechanism: kadm.ScramSha256}}, nil)
	if err != nil || deleted.Error() != nil {
		t.Fatalf("delete: %v %v", err, deleted.Error())
	}
	again, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "dave", Mechanism: kadm.ScramSha512}}, nil)
	if err != nil || !errors.Is(again["dave"].Err, kerr.ResourceNotFound) {
		t.Fatalf("delete twice: %v %+v", err, again)
	}
	if err := b.clientOn("SASL_PLAINTEXT", kgo.SASL(scram.Auth{User: "carol", Pass: "carol-secret"}.AsSha256Mechanism())).Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("a deleted credential still authenticates: %v", err)
	}

	// A restart over the same data dir keeps them.
	dir := b.dir
	b.stop()
	b2 := startBrokerIn(t, dir)
	users := b2.srv.creds.Users()
	if len(users) != 2 || users[0].User != "alice" || users[1].User != "carol" || len(users[1].Mechanisms) != 1 {
		t.Fatalf("after restart: %+v", users)
	}
}

// TestScramCredentialsKafkaRules: AlterUserScramCredentials refuses what
// Kafka refuses, per user, and changes nothing for a refused user.
func TestScramCredentialsKafkaRules(t *testing.T) {
	b := startBroker(t)
	upsert := func(name string, mech int8, iters int32) kmsg.AlterUserSCRAMCredentialsRequestUpsertion {
		u := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		u.Name, u.Mechanism, u.Iterations = name, mech, iters
		u.Salt, u.SaltedPassword = []byte("salt"), make([]byte, 32)
		return u
	}
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	req.Upsertions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{
		upsert("ok", 1, 4096),
		upsert("few", 1, 4095),
		upsert("many", 2, 16385),
		upsert("twice", 1, 4096), upsert("twice", 1, 8192),
		upsert("mech", 3, 4096),
		upsert("", 1, 4096),
		upsert("both", 1, 4096),
	}
	noSalt := upsert("nosalt", 1, 4096)
	noSalt.Salt = nil
	req.Upsertions = append(req.Upsertions, noSalt)
	del := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
	del.Name, del.Mechanism = "both", 1
	missing := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
	missing.Name, missing.Mechanism = "ghost", 2
	req.Deletions = append(req.Deletions, del, missing)
	resp := b.raw().do(req).(*kmsg.AlterUserSCRAMCredentialsResponse)
	want := map[string]*kerr.Error{
		"ok": nil, "few": kerr.UnacceptableCredential, "many": kerr.UnacceptableCredential,
		"twice": kerr.DuplicateResource, "mech": kerr.UnsupportedSaslMechanism, "": kerr.UnacceptableCredential,
		"both": kerr.DuplicateResource, "ghost": kerr.ResourceNotFound, "nosalt": kerr.UnacceptableCredential,
	}
	if len(resp.Results) != len(want) {
		t.Fatalf("%d results, want one per user (%d)", len(resp.Results), len(want))
	}
	for _, r := range resp.Results {
		w, ok := want[r.User]
		if !ok {
			t.Errorf("result for %q", r.User)
			continue
		}
		if got := kerr.ErrorForCode(r.ErrorCode); (w == nil && got != nil) || (w != nil && !errors.Is(got, w)) {
			t.Errorf("%q: %v, want %v", r.User, got, w)
		}
		if w != nil && r.ErrorMessage == nil {
			t.Errorf("%q: no message", r.User)
		}
	}
	users := b.srv.creds.Users()
	if len(users) != 1 || users[0].User != "ok" {
		t.Fatalf("stored %+v, want ok only", users)
	}

	dreq := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	for _, n := range []string{"ok", "ok", "ghost"} {
		u := kmsg.NewDescribeUserSCRAMCredentialsRequestUser()
		u.Name = n
		dreq.Users = append(dreq.Users, u)
	}
	dresp := b.raw().do(dreq).(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if len(dresp.Results) != 2 || dresp.Results[0].ErrorCode != kerr.DuplicateResource.Code || dresp.Results[1].ErrorCode != kerr.ResourceNotFound.Code {
		t.Fatalf("describe: %+v", dresp.Results)
	}
}

// TestSASLPrincipalsAreAuthorized: with an authorizer, a connection that
// authenticated over SASL acts as its user: the super user admin may
// change SCRAM credentials and alice, without Alter on the cluster, gets
// CLUSTER_AUTHORIZATION_FAILED; an unauthenticated PLAINTEXT client is
// User:ANONYMOUS and is refused too.
func TestSASLPrincipalsAreAuthorized(t *testing.T) {
	b, _ := saslBroker(t, withAuthorizer("User:admin"))
	addUser(t, b.srv, "admin", "admin-secret")
	ctx := testContext(t)
	as := func(user, pw string) *kadm.Client {
		return kadm.NewClient(b.clientOn("SASL_PLAINTEXT", kgo.SASL(scram.Auth{User: user, Pass: pw}.AsSha256Mechanism())))
	}
	// A fresh slice per call: kadm fills in the salt of the one it gets.
	up := func() []kadm.UpsertSCRAM {
		return []kadm.UpsertSCRAM{{User: "carol", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "carol-secret"}}
	}
	refused := func(res kadm.AlteredUserSCRAMs, err error) bool {
		// kadm reports a cluster authorization failure as the call's error.
		return errors.Is(err, kerr.ClusterAuthorizationFailed) || (err == nil && errors.Is(res["carol"].Err, kerr.ClusterAuthorizationFailed))
	}
	if res, err := as("alice", "alice-secret").AlterUserSCRAMs(ctx, nil, up()); !refused(res, err) {
		t.Fatalf("alice alters credentials: %v %+v", err, res)
	}
	if _, err := as("alice", "alice-secret").DescribeUserSCRAMs(ctx); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice describes credentials: %v", err)
	}
	if res, err := kadm.NewClient(b.clientOn("PLAINTEXT")).AlterUserSCRAMs(ctx, nil, up()); !refused(res, err) {
		t.Fatalf("ANONYMOUS alters credentials: %v %+v", err, res)
	}
	if _, ok := b.srv.creds.Lookup("carol", 1); ok {
		t.Fatal("a refused alter stored carol")
	}
	if res, err := as("admin", "admin-secret").AlterUserSCRAMs(ctx, nil, up()); err != nil || res.Error() != nil {
		t.Fatalf("admin alters credentials: %v %v", err, res.Error())
	}
	if d, err := as("admin", "admin-secret").DescribeUserSCRAMs(ctx); err != nil || len(d) != 3 {
		t.Fatalf("admin describes: %v %+v", err, d)
	}
}
