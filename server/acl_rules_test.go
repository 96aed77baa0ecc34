package server

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
)

// produceCode is the error of one Produce to orders sent as cl's
// principal.
func produceCode(t *testing.T, f *aclFixture, cl *kgo.Client) int16 {
	t.Helper()
	c := aclCases()[0]
	if c.name != "Produce needs Write Topic" {
		t.Fatal("the first ACL case is not Produce")
	}
	return c.code(node0(t, cl, c.req(f)))
}

// TestACLPatternsDecideOverARealSocket: literal, prefixed and wildcard
// patterns, User:*, DENY over ALLOW, hosts and super users, each as the
// broker applies them to a Produce.
func TestACLPatternsDecideOverARealSocket(t *testing.T) {
	f := newACLFixture(t)
	bob := f.b.clientFrom(bobIP)
	node0(t, bob, kmsg.NewPtrMetadataRequest())
	anon := f.b.clientFrom("127.0.0.1")
	node0(t, anon, kmsg.NewPtrMetadataRequest())
	W, A, D := auth.OpWrite, auth.PermissionAllow, auth.PermissionDeny
	T := auth.ResourceTopic
	withHost := func(b auth.Binding, host string) auth.Binding { b.Host = host; return b }
	tests := []struct {
		name     string
		bindings []auth.Binding
		cl       *kgo.Client
		want     int16
	}{
		{"literal", []auth.Binding{binding(T, auth.PatternLiteral, aclTopic, "User:alice", W, A)}, f.alice, 0},
		{"literal for another principal", []auth.Binding{binding(T, auth.PatternLiteral, aclTopic, "User:alice", W, A)}, bob, topicDenied},
		{"prefixed", []auth.Binding{binding(T, auth.PatternPrefixed, "ord", "User:alice", W, A)}, f.alice, 0},
		{"prefixed that is not a prefix", []auth.Binding{binding(T, auth.PatternPrefixed, "orders-", "User:alice", W, A)}, f.alice, topicDenied},
		{"wildcard resource", []auth.Binding{binding(T, auth.PatternLiteral, "*", "User:alice", W, A)}, f.alice, 0},
		{"wildcard principal", []auth.Binding{binding(T, auth.PatternLiteral, aclTopic, "User:*", W, A)}, bob, 0},
		{"wildcard principal covers anonymous", []auth.Binding{binding(T, auth.PatternLiteral, aclTopic, "User:*", W, A)}, anon, 0},
		{"DENY over ALLOW", []auth.Binding{
			binding(T, auth.PatternLiteral, "*", "User:alice", W, A),
			binding(T, auth.PatternPrefixed, "ord", "User:alice", W, D)}, f.alice, topicDenied},
		{"DENY of everyone over ALLOW of one", []auth.Binding{
			binding(T, auth.PatternLiteral, aclTopic, "User:alice", W, A),
			binding(T, auth.PatternLiteral, aclTopic, "User:*", auth.OpAll, D)}, f.alice, topicDenied},
		{"host that matches", []auth.Binding{withHost(binding(T, auth.PatternLiteral, aclTopic, "User:alice", W, A), aliceIP)}, f.alice, 0},
		{"host that does not match", []auth.Binding{withHost(binding(T, auth.PatternLiteral, aclTopic, "User:alice", W, A), bobIP)}, f.alice, topicDenied},
		{"DENY from one host only", []auth.Binding{
			binding(T, auth.PatternLiteral, aclTopic, "User:*", W, A),
			withHost(binding(T, auth.PatternLiteral, aclTopic, "User:*", W, D), bobIP)}, f.alice, 0},
		{"super user without ACLs", nil, f.admin, 0},
		{"super user despite a DENY", []auth.Binding{binding(T, auth.PatternLiteral, "*", "User:*", auth.OpAll, D)}, f.admin, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deleteAllACLs(t, f.admin)
			createACLs(t, f.admin, tt.bindings...)
			if got := produceCode(t, f, tt.cl); got != tt.want {
				t.Fatalf("produce: error %d (%v), want %d", got, kerr.ErrorForCode(got), tt.want)
			}
		})
	}
}

// TestACLListingsShowOnlyWhatThePrincipalMayDescribe: Metadata of all
// topics and ListGroups leave out what the principal may not Describe.
func TestACLListingsShowOnlyWhatThePrincipalMayDescribe(t *testing.T) {
	f := newACLFixture(t)
	createACLs(t, f.admin, allowAlice(auth.ResourceTopic, aclTopic, auth.OpRead), allowAlice(auth.ResourceGroup, aclGroup, auth.OpRead))
	if c := offsetCommitCode(node0(t, f.admin, offsetCommit("other-group"))); c != 0 {
		t.Fatal(c)
	}
	var topics []string
	for _, mt := range node0(t, f.alice, kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse).Topics {
		topics = append(topics, *mt.Topic)
	}
	if !slices.Equal(topics, []string{aclTopic}) {
		t.Fatalf("alice's Metadata lists %v, want only %s", topics, aclTopic)
	}
	listGroups := func(cl *kgo.Client) []string {
		var gs []string
		for _, g := range node0(t, cl, kmsg.NewPtrListGroupsRequest()).(*kmsg.ListGroupsResponse).Groups {
			gs = append(gs, g.Group)
		}
		slices.Sort(gs)
		return gs
	}
	if gs := listGroups(f.alice); !slices.Equal(gs, []string{aclGroup}) {
		t.Fatalf("alice lists groups %v, want only %s", gs, aclGroup)
	}
	createACLs(t, f.admin, allowAlice(auth.ResourceCluster, auth.ClusterName, auth.OpDescribe))
	if gs := listGroups(f.alice); !slices.Equal(gs, []string{aclGroup, "other-group"}) {
		t.Fatalf("with Describe Cluster alice lists groups %v, want all", gs)
	}
}

// TestACLsPersistAcrossRestart: bindings created through CreateAcls are in
// the data dir and apply after a restart.
func TestACLsPersistAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	b := startACLBroker(t, dir)
	admin := b.clientFrom(adminIP)
	node0(t, admin, kmsg.NewPtrMetadataRequest())
	want := []auth.Binding{
		allowAlice(auth.ResourceTopic, aclTopic, auth.OpWrite),
		binding(auth.ResourceGroup, auth.PatternPrefixed, "team-", "User:*", auth.OpRead, auth.PermissionDeny),
	}
	createACLs(t, admin, want...)
	admin.Close()
	b.stop()

	b = startACLBroker(t, dir)
	admin = b.clientFrom(adminIP)
	node0(t, admin, kmsg.NewPtrMetadataRequest())
	resp := describeAllACLs(t, admin)
	var got []string
	for _, r := range resp.Resources {
		for _, a := range r.ACLs {
			got = append(got, r.ResourceType.String()+"/"+r.ResourcePatternType.String()+"/"+r.ResourceName+"/"+a.Principal+"/"+a.Operation.String()+"/"+a.PermissionType.String())
		}
	}
	wantS := []string{"TOPIC/LITERAL/orders/User:alice/WRITE/ALLOW", "GROUP/PREFIXED/team-/User:*/READ/DENY"}
	slices.Sort(got)
	slices.Sort(wantS)
	if !slices.Equal(got, wantS) {
		t.Fatalf("after restart DescribeAcls gives %v, want %v", got, wantS)
	}
	alice := b.clientFrom(aliceIP)
	node0(t, alice, kmsg.NewPtrMetadataRequest())
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID = "team-a", "m"
	if c := node0(t, alice, req).(*kmsg.HeartbeatResponse).ErrorCode; c != groupDenied {
		t.Fatalf("the reloaded DENY does not apply: error %d", c)
	}
}

// TestACLAPIsAnswerSecurityDisabledWithoutAuthorizer: as Kafka, the ACL
// APIs are served without an authorizer and say so; nothing else is
// checked.
func TestACLAPIsAnswerSecurityDisabledWithoutAuthorizer(t *testing.T) {
	b := startBroker(t)
	cl := b.client()
	node0(t, cl, kmsg.NewPtrMetadataRequest())
	disabled := kerr.SecurityDisabled.Code
	if c := describeAllACLs(t, cl).ErrorCode; c != disabled {
		t.Errorf("DescribeAcls: error %d, want SECURITY_DISABLED", c)
	}
	creq := kmsg.NewPtrCreateACLsRequest()
	cr := kmsg.NewCreateACLsRequestCreation()
	cr.ResourceType, cr.ResourceName, cr.ResourcePatternType = kmsg.ACLResourceTypeTopic, "t", kmsg.ACLResourcePatternTypeLiteral
	cr.Principal, cr.Host, cr.Operation, cr.PermissionType = "User:a", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
	creq.Creations = []kmsg.CreateACLsRequestCreation{cr}
	if c := node0(t, cl, creq).(*kmsg.CreateACLsResponse).Results[0].ErrorCode; c != disabled {
		t.Errorf("CreateAcls: error %d, want SECURITY_DISABLED", c)
	}
	dreq := kmsg.NewPtrDeleteACLsRequest()
	dreq.Filters = []kmsg.DeleteACLsRequestFilter{anyACLFilter()}
	if c := node0(t, cl, dreq).(*kmsg.DeleteACLsResponse).Results[0].ErrorCode; c != disabled {
		t.Errorf("DeleteAcls: error %d, want SECURITY_DISABLED", c)
	}
	// And kadm, which kafka-acls-style tools use, gets the error, not a
	// closed connection.
	res, err := kadm.NewClient(cl).DescribeACLs(testContext(t), kadm.NewACLs().AnyResource().Allow().AllowHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
	if err == nil && len(res) > 0 {
		err = res[0].Err
	}
	if !errors.Is(err, kerr.SecurityDisabled) {
		t.Errorf("kadm DescribeACLs: %v, want SECURITY_DISABLED", err)
	}
}

// TestSaramaListAclsWithoutAuthorizer: sarama-based tools (kafkactl) send
// DescribeAcls whatever the broker; they get SECURITY_DISABLED and the
// connection stays usable.
func TestSaramaListAclsWithoutAuthorizer(t *testing.T) {
	b := startBroker(t)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Net.DialTimeout, cfg.Net.ReadTimeout, cfg.Net.WriteTimeout = 5*time.Second, 10*time.Second, 10*time.Second
	adm, err := sarama.NewClusterAdmin([]string{b.addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	_, err = adm.ListAcls(sarama.AclFilter{
		ResourceType: sarama.AclResourceAny, ResourcePatternTypeFilter: sarama.AclPatternAny,
		Operation: sarama.AclOperationAny, PermissionType: sarama.AclPermissionAny,
	})
	if !errors.Is(err, sarama.ErrSecurityDisabled) {
		t.Fatalf("ListAcls: %v, want SECURITY_DISABLED", err)
	}
	if _, err := adm.ListTopics(); err != nil {
		t.Fatalf("the connection is not usable after DescribeAcls: %v", err)
	}
}

// TestAuthorizationDenialsAreCountedPerAPIAndResourceType: each refused
// check is one tributary_authorization_denied_total.
func TestAuthorizationDenialsAreCountedPerAPIAndResourceType(t *testing.T) {
	f := newACLFixture(t)
	for range 3 {
		if c := produceCode(t, f, f.alice); c != topicDenied {
			t.Fatalf("produce: %d", c)
		}
	}
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID = aclGroup, "m"
	node0(t, f.alice, req)
	if n := deniedCounted(t, f.b, "Produce", "Topic"); n != 3 {
		t.Errorf("Produce/Topic denials = %v, want 3", n)
	}
	if n := deniedCounted(t, f.b, "Heartbeat", "Group"); n != 1 {
		t.Errorf("Heartbeat/Group denials = %v, want 1", n)
	}
}

func deniedCounted(t *testing.T, b *testBroker, api, rt string) float64 {
	t.Helper()
	mfs, err := b.srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "tributary_authorization_denied_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["api"] == api && labels["resource_type"] == rt {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestAuthorizedOperationsAreThePrincipals: KIP-430's bit sets in
// Metadata, DescribeGroups and DescribeCluster say what the ACLs allow the
// asking principal, implied operations included.
func TestAuthorizedOperationsAreThePrincipals(t *testing.T) {
	f := newACLFixture(t)
	createACLs(t, f.admin, allowAlice(auth.ResourceTopic, aclTopic, auth.OpRead), allowAlice(auth.ResourceGroup, aclGroup, auth.OpDescribe))
	bit := func(ops ...auth.Operation) int32 {
		var b int32
		for _, op := range ops {
			b |= 1 << op
		}
		return b
	}
	md := kmsg.NewPtrMetadataRequest()
	md.IncludeTopicAuthorizedOperations = true
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(aclTopic)
	md.Topics = []kmsg.MetadataRequestTopic{mt}
	if got, want := node0(t, f.alice, md).(*kmsg.MetadataResponse).Topics[0].AuthorizedOperations, bit(auth.OpRead, auth.OpDescribe); got != want {
		t.Errorf("alice's topic operations %b, want %b (Read and the Describe it implies)", got, want)
	}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups, dg.IncludeAuthorizedOperations = []string{aclGroup}, true
	if got, want := node0(t, f.alice, dg).(*kmsg.DescribeGroupsResponse).Groups[0].AuthorizedOperations, bit(auth.OpDescribe); got != want {
		t.Errorf("alice's group operations %b, want %b", got, want)
	}
	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.IncludeClusterAuthorizedOperations = true
	if got := node0(t, f.alice, dc).(*kmsg.DescribeClusterResponse).ClusterAuthorizedOperations; got != 0 {
		t.Errorf("alice's cluster operations %b, want none", got)
	}
	all := bit(auth.OpCreate, auth.OpClusterAction, auth.OpDescribeConfigs, auth.OpAlterConfigs, auth.OpIdempotentWrite, auth.OpAlter, auth.OpDescribe)
	if got := node0(t, f.admin, dc).(*kmsg.DescribeClusterResponse).ClusterAuthorizedOperations; got != all {
		t.Errorf("the super user's cluster operations %b, want %b", got, all)
	}
}

// TestACLAPIsRefuseInvalidBindingsAndFilters: INVALID_REQUEST with a
// message for what Kafka refuses, per creation and per filter, the valid
// ones in the same request still served.
func TestACLAPIsRefuseInvalidBindingsAndFilters(t *testing.T) {
	f := newACLFixture(t)
	creq := kmsg.NewPtrCreateACLsRequest()
	for _, b := range []auth.Binding{
		allowAlice(auth.ResourceTopic, aclTopic, auth.OpRead),
		allowAlice(auth.ResourceCluster, "not-the-cluster", auth.OpAlter),
		binding(auth.ResourceTopic, auth.PatternLiteral, aclTopic, "alice", auth.OpRead, auth.PermissionAllow),
		binding(auth.ResourceTopic, auth.PatternMatch, aclTopic, "User:alice", auth.OpRead, auth.PermissionAllow),
		allowAlice(auth.ResourceTopic, "", auth.OpRead),
	} {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceType(b.ResourceType), b.ResourceName, kmsg.ACLResourcePatternType(b.PatternType)
		c.Principal, c.Host = b.Principal, b.Host
		c.Operation, c.PermissionType = kmsg.ACLOperation(b.Operation), kmsg.ACLPermissionType(b.Permission)
		creq.Creations = append(creq.Creations, c)
	}
	for i, r := range node0(t, f.admin, creq).(*kmsg.CreateACLsResponse).Results {
		switch {
		case i == 0 && r.ErrorCode != 0:
			t.Errorf("valid creation: error %d", r.ErrorCode)
		case i > 0 && (r.ErrorCode != kerr.InvalidRequest.Code || r.ErrorMessage == nil):
			t.Errorf("creation %d: error %d %v, want INVALID_REQUEST with a message", i, r.ErrorCode, r.ErrorMessage)
		}
	}
	if n := len(describeAllACLs(t, f.admin).Resources); n != 1 {
		t.Errorf("%d resources with ACLs, want 1", n)
	}

	dreq := kmsg.NewPtrDescribeACLsRequest() // resource type UNKNOWN
	dreq.ResourcePatternType, dreq.Operation, dreq.PermissionType = kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	if c := node0(t, f.admin, dreq).(*kmsg.DescribeACLsResponse).ErrorCode; c != kerr.InvalidRequest.Code {
		t.Errorf("DescribeAcls of an UNKNOWN resource type: error %d, want INVALID_REQUEST", c)
	}
	del := kmsg.NewPtrDeleteACLsRequest()
	bad := anyACLFilter()
	bad.Operation = 0 // UNKNOWN
	del.Filters = []kmsg.DeleteACLsRequestFilter{bad, anyACLFilter()}
	res := node0(t, f.admin, del).(*kmsg.DeleteACLsResponse).Results
	if res[0].ErrorCode != kerr.InvalidRequest.Code || res[1].ErrorCode != 0 || len(res[1].MatchingACLs) != 1 {
		t.Errorf("DeleteAcls: %+v", res)
	}
}

// TestACLTopicsNamedByIDOrListedHideWhatIsNotDescribable: a topic named by
// ID that the principal may not Describe answers TOPIC_AUTHORIZATION_FAILED
// without its name (DeleteTopics, Metadata), and OffsetFetch of every
// committed offset lists only the topics the principal may Describe.
func TestACLTopicsNamedByIDOrListedHideWhatIsNotDescribable(t *testing.T) {
	f := newACLFixture(t)
	ctx := testContext(t)
	if err := f.admin.ProduceSync(ctx, &kgo.Record{Topic: "orders-eu", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	oc := offsetCommit(aclGroup)
	oc.Topics[0].Topic = "orders-eu"
	if c := offsetCommitCode(node0(t, f.admin, oc)); c != 0 {
		t.Fatal(c)
	}
	createACLs(t, f.admin, allowAlice(auth.ResourceGroup, aclGroup, auth.OpRead), allowAlice(auth.ResourceTopic, aclTopic, auth.OpDelete))

	dt := kmsg.NewPtrDeleteTopicsRequest()
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.TopicID = f.topicID
	dt.Topics = []kmsg.DeleteTopicsRequestTopic{rt}
	dt.Version = 6
	st := node0(t, f.alice, dt).(*kmsg.DeleteTopicsResponse).Topics[0]
	if st.ErrorCode != 0 {
		t.Fatalf("alice may Delete (so Describe) orders: error %d", st.ErrorCode)
	}
	// orders-eu: no Describe, so by ID its name stays hidden.
	td, err := kadm.NewClient(f.admin).ListTopics(ctx, "orders-eu")
	if err != nil {
		t.Fatal(err)
	}
	rt.TopicID = td["orders-eu"].ID
	dt.Topics = []kmsg.DeleteTopicsRequestTopic{rt}
	st = node0(t, f.alice, dt).(*kmsg.DeleteTopicsResponse).Topics[0]
	if st.ErrorCode != topicDenied || st.Topic != nil {
		t.Fatalf("delete of an undescribable topic by ID: error %d, name %v; want TOPIC_AUTHORIZATION_FAILED and no name", st.ErrorCode, st.Topic)
	}
	md := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.TopicID = td["orders-eu"].ID
	md.Topics = []kmsg.MetadataRequestTopic{mt}
	md.Version = 12
	if got := node0(t, f.alice, md).(*kmsg.MetadataResponse).Topics[0]; got.ErrorCode != topicDenied || got.Topic != nil {
		t.Fatalf("Metadata by ID of an undescribable topic: error %d, name %v", got.ErrorCode, got.Topic)
	}

	// Every committed offset of g: orders-eu's is left out for alice.
	of := kmsg.NewPtrOffsetFetchRequest()
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = aclGroup // Topics nil: every committed offset
	of.Groups = []kmsg.OffsetFetchRequestGroup{rg}
	var got []string
	for _, t := range node0(t, f.alice, of).(*kmsg.OffsetFetchResponse).Groups[0].Topics {
		got = append(got, t.Topic)
	}
	if len(got) != 0 { // orders was deleted above, and its commits with it
		t.Fatalf("alice sees the offsets of %v, which she may not Describe", got)
	}
	var all []string
	for _, t := range node0(t, f.admin, of).(*kmsg.OffsetFetchResponse).Groups[0].Topics {
		all = append(all, t.Topic)
	}
	if !slices.Equal(all, []string{"orders-eu"}) {
		t.Fatalf("the admin sees the offsets of %v, want orders-eu", all)
	}
}

// TestACLFranzGoProducerAndGroupConsumer: franz-go's ordinary idempotent
// producer and group consumer work as alice with Kafka's usual grants
// (Write on the topic; Read on the topic and the group), and get Kafka's
// authorization errors without them.
func TestACLFranzGoProducerAndGroupConsumer(t *testing.T) {
	f := newACLFixture(t)
	ctx := testContext(t)
	rec := func() *kgo.Record { return &kgo.Record{Topic: aclTopic, Value: []byte("from alice")} }

	prod := f.b.clientFrom(aliceIP)
	if err := prod.ProduceSync(ctx, rec()).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) && !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("produce without ACLs: %v, want an authorization error", err)
	}
	createACLs(t, f.admin, allowAlice(auth.ResourceTopic, aclTopic, auth.OpWrite))
	prod2 := f.b.clientFrom(aliceIP) // a fresh client: the first one's producer id request failed for good
	if err := prod2.ProduceSync(ctx, rec()).FirstErr(); err != nil {
		t.Fatalf("produce with Write on the topic (idempotent, so InitProducerId by Write on any topic): %v", err)
	}

	createACLs(t, f.admin, allowAlice(auth.ResourceTopic, aclTopic, auth.OpRead))
	cons := f.b.clientFrom(aliceIP, kgo.ConsumerGroup("alice-readers"), kgo.ConsumeTopics(aclTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	fs := cons.PollFetches(pctx)
	cancel()
	var groupErr error
	fs.EachError(func(_ string, _ int32, err error) { groupErr = err })
	if !errors.Is(groupErr, kerr.GroupAuthorizationFailed) {
		t.Fatalf("group consumer without Read on the group: %v, want GROUP_AUTHORIZATION_FAILED", groupErr)
	}
	cons.Close()

	createACLs(t, f.admin, allowAlice(auth.ResourceGroup, "alice-readers", auth.OpRead))
	cons = f.b.clientFrom(aliceIP, kgo.ConsumerGroup("alice-readers"), kgo.ConsumeTopics(aclTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < 2 && ctx.Err() == nil {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("group consumer with Read on the topic and the group: %v", err)
		}
		got += fs.NumRecords()
	}
	if got < 2 {
		t.Fatalf("consumed %d records, want the admin's and alice's", got)
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit with Read on the group and the topic: %v", err)
	}
}
