package server

import (
	"cmp"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/recordbatch"
)

const (
	aclTopic = "orders"
	aclGroup = "g"
)

// aclFixture is a broker with an authorizer, a topic with one record, a
// group with a commit, and clients for the admin (a super user) and alice.
type aclFixture struct {
	b            *testBroker
	admin, alice *kgo.Client
	topicID      [16]byte
}

func newACLFixture(t *testing.T) *aclFixture {
	t.Helper()
	b := startACLBroker(t, t.TempDir())
	f := &aclFixture{b: b, admin: b.clientFrom(adminIP), alice: b.clientFrom(aliceIP)}
	ctx := testContext(t)
	adm := kadm.NewClient(f.admin)
	for _, name := range []string{aclTopic, "doomed", "orders-eu"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, name); err != nil {
			t.Fatal(err)
		}
	}
	td, err := adm.ListTopics(ctx, aclTopic)
	if err != nil || td[aclTopic].Err != nil {
		t.Fatalf("list topics: %v %v", err, td[aclTopic].Err)
	}
	f.topicID = td[aclTopic].ID
	if err := f.admin.ProduceSync(ctx, &kgo.Record{Topic: aclTopic, Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if c := offsetCommitCode(node0(t, f.admin, offsetCommit(aclGroup))); c != 0 {
		t.Fatalf("admin commit: %d", c)
	}
	node0(t, f.alice, kmsg.NewPtrMetadataRequest()) // alice's client learns node 0
	return f
}

func offsetCommit(g string) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = g, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = aclTopic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset = 1
	rt.Partitions = []kmsg.OffsetCommitRequestTopicPartition{rp}
	req.Topics = []kmsg.OffsetCommitRequestTopic{rt}
	return req
}

func offsetCommitCode(r kmsg.Response) int16 {
	return r.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
}

// aclCase is one API checked allowed and denied: with no ACL alice's
// request gets denied; with grant it does not (and gets allowed, unless
// allowed is anyButDenied).
type aclCase struct {
	name    string
	base    []auth.Binding // granted in both runs
	grant   []auth.Binding
	req     func(f *aclFixture) kmsg.Request
	code    func(kmsg.Response) int16
	denied  int16
	allowed int16
}

// anyButDenied: the allowed request may fail for reasons of its own
// (UNKNOWN_MEMBER_ID of a made-up member), just not the denial.
const anyButDenied = -1

var (
	topicDenied   = kerr.TopicAuthorizationFailed.Code
	groupDenied   = kerr.GroupAuthorizationFailed.Code
	clusterDenied = kerr.ClusterAuthorizationFailed.Code
)

func aclCases() []aclCase {
	T, G, C := auth.ResourceTopic, auth.ResourceGroup, auth.ResourceCluster
	cl := auth.ClusterName
	return []aclCase{
		{name: "Produce needs Write Topic", grant: []auth.Binding{allowAlice(T, aclTopic, auth.OpWrite)},
			req: func(f *aclFixture) kmsg.Request {
				req := kmsg.NewPtrProduceRequest()
				req.Acks, req.TimeoutMillis = 1, 5000
				rt := kmsg.NewProduceRequestTopic()
				rt.Topic, rt.TopicID = aclTopic, f.topicID
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Records = recordbatch.Build(1, 10, 0)
				rt.Partitions = []kmsg.ProduceRequestTopicPartition{rp}
				req.Topics = []kmsg.ProduceRequestTopic{rt}
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode },
			denied: topicDenied},
		{name: "Fetch needs Read Topic", grant: []auth.Binding{allowAlice(T, aclTopic, auth.OpRead)},
			req: func(f *aclFixture) kmsg.Request {
				req := kmsg.NewPtrFetchRequest()
				req.MaxBytes, req.SessionEpoch = 1<<20, -1
				rt := kmsg.NewFetchRequestTopic()
				rt.Topic, rt.TopicID = aclTopic, f.topicID
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.PartitionMaxBytes = 1 << 20
				rt.Partitions = []kmsg.FetchRequestTopicPartition{rp}
				req.Topics = []kmsg.FetchRequestTopic{rt}
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode },
			denied: topicDenied},
		{name: "ListOffsets needs Describe Topic, implied by Read", grant: []auth.Binding{allowAlice(T, aclTopic, auth.OpRead)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrListOffsetsRequest()
				rt := kmsg.NewListOffsetsRequestTopic()
				rt.Topic = aclTopic
				rp := kmsg.NewListOffsetsRequestTopicPartition()
				rp.Timestamp = -1
				rt.Partitions = []kmsg.ListOffsetsRequestTopicPartition{rp}
				req.Topics = []kmsg.ListOffsetsRequestTopic{rt}
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode },
			denied: topicDenied},
		{name: "Metadata of a named topic needs Describe Topic", grant: []auth.Binding{allowAlice(T, aclTopic, auth.OpDescribe)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrMetadataRequest()
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr(aclTopic)
				req.Topics = []kmsg.MetadataRequestTopic{rt}
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.MetadataResponse).Topics[0].ErrorCode },
			denied: topicDenied},
		{name: "Metadata auto-creation needs Create", grant: []auth.Binding{
			binding(T, auth.PatternPrefixed, "auto-", "User:alice", auth.OpDescribe, auth.PermissionAllow),
			binding(T, auth.PatternPrefixed, "auto-", "User:alice", auth.OpCreate, auth.PermissionAllow)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrMetadataRequest()
				req.AllowAutoTopicCreation = true
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr("auto-created")
				req.Topics = []kmsg.MetadataRequestTopic{rt}
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.MetadataResponse).Topics[0].ErrorCode },
			denied: topicDenied},
		{name: "OffsetCommit needs Read Group", grant: []auth.Binding{allowAlice(G, aclGroup, auth.OpRead), allowAlice(T, aclTopic, auth.OpRead)},
			req:    func(*aclFixture) kmsg.Request { return offsetCommit(aclGroup) },
			code:   offsetCommitCode,
			denied: groupDenied},
		{name: "OffsetCommit needs Read Topic", base: []auth.Binding{allowAlice(G, aclGroup, auth.OpRead)},
			grant:  []auth.Binding{allowAlice(T, aclTopic, auth.OpRead)},
			req:    func(*aclFixture) kmsg.Request { return offsetCommit(aclGroup) },
			code:   offsetCommitCode,
			denied: topicDenied},
		{name: "OffsetFetch needs Describe Topic", base: []auth.Binding{allowAlice(G, aclGroup, auth.OpRead)},
			grant: []auth.Binding{allowAlice(T, aclTopic, auth.OpDescribe)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrOffsetFetchRequest()
				rg := kmsg.NewOffsetFetchRequestGroup()
				rg.Group = aclGroup
				rt := kmsg.NewOffsetFetchRequestGroupTopic()
				rt.Topic, rt.Partitions = aclTopic, []int32{0}
				rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{rt}
				req.Groups = []kmsg.OffsetFetchRequestGroup{rg}
				return req
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.OffsetFetchResponse).Groups[0].Topics[0].Partitions[0].ErrorCode
			},
			denied: topicDenied},
		{name: "OffsetDelete needs Read Topic", base: []auth.Binding{allowAlice(G, aclGroup, auth.OpDelete)},
			grant: []auth.Binding{allowAlice(T, aclTopic, auth.OpRead)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrOffsetDeleteRequest()
				req.Group = aclGroup
				rt := kmsg.NewOffsetDeleteRequestTopic()
				rt.Topic = aclTopic
				rt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{kmsg.NewOffsetDeleteRequestTopicPartition()}
				req.Topics = []kmsg.OffsetDeleteRequestTopic{rt}
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.OffsetDeleteResponse).Topics[0].Partitions[0].ErrorCode },
			denied: topicDenied, allowed: anyButDenied},
		{name: "OffsetFetch needs Describe Group", grant: []auth.Binding{allowAlice(G, aclGroup, auth.OpDescribe), allowAlice(T, aclTopic, auth.OpDescribe)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrOffsetFetchRequest()
				req.Group = aclGroup
				rg := kmsg.NewOffsetFetchRequestGroup()
				rg.Group = aclGroup
				rt := kmsg.NewOffsetFetchRequestGroupTopic()
				rt.Topic, rt.Partitions = aclTopic, []int32{0}
				rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{rt}
				req.Groups = []kmsg.OffsetFetchRequestGroup{rg}
				ot := kmsg.NewOffsetFetchRequestTopic()
				ot.Topic, ot.Partitions = aclTopic, []int32{0}
				req.Topics = []kmsg.OffsetFetchRequestTopic{ot}
				return req
			},
			code: func(r kmsg.Response) int16 {
				resp := r.(*kmsg.OffsetFetchResponse)
				if resp.Version >= 8 {
					return resp.Groups[0].ErrorCode
				}
				return resp.ErrorCode
			},
			denied: groupDenied},
		{name: "FindCoordinator needs Describe Group", grant: []auth.Binding{allowAlice(G, aclGroup, auth.OpDescribe)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrFindCoordinatorRequest()
				req.CoordinatorKey, req.CoordinatorKeys = aclGroup, []string{aclGroup}
				return req
			},
			code: func(r kmsg.Response) int16 {
				resp := r.(*kmsg.FindCoordinatorResponse)
				if resp.Version >= 4 {
					return resp.Coordinators[0].ErrorCode
				}
				return resp.ErrorCode
			},
			denied: groupDenied},
		{name: "JoinGroup needs Read Group", grant: []auth.Binding{allowAlice(G, "joiners", auth.OpRead)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrJoinGroupRequest()
				req.Group, req.ProtocolType, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = "joiners", "consumer", 10000, 10000
				p := kmsg.NewJoinGroupRequestProtocol()
				p.Name, p.Metadata = "range", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
				req.Protocols = []kmsg.JoinGroupRequestProtocol{p}
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.JoinGroupResponse).ErrorCode },
			denied: groupDenied, allowed: kerr.MemberIDRequired.Code},
		{name: "Heartbeat needs Read Group", grant: []auth.Binding{allowAlice(G, aclGroup, auth.OpRead)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrHeartbeatRequest()
				req.Group, req.MemberID, req.Generation = aclGroup, "m", 1
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.HeartbeatResponse).ErrorCode },
			denied: groupDenied, allowed: anyButDenied},
		{name: "SyncGroup needs Read Group", grant: []auth.Binding{allowAlice(G, aclGroup, auth.OpRead)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrSyncGroupRequest()
				req.Group, req.MemberID, req.Generation = aclGroup, "m", 1
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.SyncGroupResponse).ErrorCode },
			denied: groupDenied, allowed: anyButDenied},
		{name: "LeaveGroup needs Read Group", grant: []auth.Binding{allowAlice(G, aclGroup, auth.OpRead)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrLeaveGroupRequest()
				req.Group, req.MemberID = aclGroup, "m"
				m := kmsg.NewLeaveGroupRequestMember()
				m.MemberID = "m"
				req.Members = []kmsg.LeaveGroupRequestMember{m}
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.LeaveGroupResponse).ErrorCode },
			denied: groupDenied, allowed: anyButDenied},
		{name: "DescribeGroups needs Describe Group", grant: []auth.Binding{allowAlice(G, aclGroup, auth.OpDescribe)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrDescribeGroupsRequest()
				req.Groups = []string{aclGroup}
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.DescribeGroupsResponse).Groups[0].ErrorCode },
			denied: groupDenied},
		{name: "DeleteGroups needs Delete Group", grant: []auth.Binding{allowAlice(G, "nobody-home", auth.OpDelete)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrDeleteGroupsRequest()
				req.Groups = []string{"nobody-home"}
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode },
			denied: groupDenied, allowed: anyButDenied},
		{name: "OffsetDelete needs Delete Group", grant: []auth.Binding{allowAlice(G, aclGroup, auth.OpDelete), allowAlice(T, aclTopic, auth.OpRead)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrOffsetDeleteRequest()
				req.Group = aclGroup
				rt := kmsg.NewOffsetDeleteRequestTopic()
				rt.Topic = aclTopic
				rp := kmsg.NewOffsetDeleteRequestTopicPartition()
				rt.Partitions = []kmsg.OffsetDeleteRequestTopicPartition{rp}
				req.Topics = []kmsg.OffsetDeleteRequestTopic{rt}
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.OffsetDeleteResponse).ErrorCode },
			denied: groupDenied},
		{name: "CreateTopics needs Create Cluster", grant: []auth.Binding{allowAlice(C, cl, auth.OpCreate)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrCreateTopicsRequest()
				rt := kmsg.NewCreateTopicsRequestTopic()
				rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "made-by-alice", 1, 1
				req.Topics = []kmsg.CreateTopicsRequestTopic{rt}
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode },
			denied: topicDenied},
		{name: "CreateTopics needs Create Topic", grant: []auth.Binding{allowAlice(T, "made-by-alice-2", auth.OpCreate)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrCreateTopicsRequest()
				rt := kmsg.NewCreateTopicsRequestTopic()
				rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "made-by-alice-2", 1, 1
				req.Topics = []kmsg.CreateTopicsRequestTopic{rt}
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode },
			denied: topicDenied},
		{name: "DeleteTopics needs Delete Topic", grant: []auth.Binding{allowAlice(T, "doomed", auth.OpDelete)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrDeleteTopicsRequest()
				req.TopicNames = []string{"doomed"}
				rt := kmsg.NewDeleteTopicsRequestTopic()
				rt.Topic = kmsg.StringPtr("doomed")
				req.Topics = []kmsg.DeleteTopicsRequestTopic{rt}
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode },
			denied: topicDenied},
		{name: "CreatePartitions needs Alter Topic", grant: []auth.Binding{allowAlice(T, aclTopic, auth.OpAlter)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrCreatePartitionsRequest()
				rt := kmsg.NewCreatePartitionsRequestTopic()
				rt.Topic, rt.Count = aclTopic, 2
				req.Topics = []kmsg.CreatePartitionsRequestTopic{rt}
				req.ValidateOnly = true
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode },
			denied: topicDenied},
		{name: "DeleteRecords needs Delete Topic", grant: []auth.Binding{allowAlice(T, aclTopic, auth.OpDelete)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrDeleteRecordsRequest()
				rt := kmsg.NewDeleteRecordsRequestTopic()
				rt.Topic = aclTopic
				rp := kmsg.NewDeleteRecordsRequestTopicPartition()
				rp.Offset = 0
				rt.Partitions = []kmsg.DeleteRecordsRequestTopicPartition{rp}
				req.Topics = []kmsg.DeleteRecordsRequestTopic{rt}
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0].ErrorCode },
			denied: topicDenied},
		{name: "DescribeConfigs of a topic needs DescribeConfigs Topic, implied by AlterConfigs", grant: []auth.Binding{allowAlice(T, aclTopic, auth.OpAlterConfigs)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrDescribeConfigsRequest()
				rr := kmsg.NewDescribeConfigsRequestResource()
				rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, aclTopic
				req.Resources = []kmsg.DescribeConfigsRequestResource{rr}
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode },
			denied: topicDenied},
		{name: "DescribeConfigs of the broker needs DescribeConfigs Cluster", grant: []auth.Binding{allowAlice(C, cl, auth.OpDescribeConfigs)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrDescribeConfigsRequest()
				rr := kmsg.NewDescribeConfigsRequestResource()
				rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, "0"
				req.Resources = []kmsg.DescribeConfigsRequestResource{rr}
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode },
			denied: clusterDenied},
		{name: "AlterConfigs needs AlterConfigs Topic", grant: []auth.Binding{allowAlice(T, aclTopic, auth.OpAlterConfigs)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrAlterConfigsRequest()
				rr := kmsg.NewAlterConfigsRequestResource()
				rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, aclTopic
				c := kmsg.NewAlterConfigsRequestResourceConfig()
				c.Name, c.Value = "retention.ms", kmsg.StringPtr("86400000")
				rr.Configs = []kmsg.AlterConfigsRequestResourceConfig{c}
				req.Resources = []kmsg.AlterConfigsRequestResource{rr}
				req.ValidateOnly = true
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode },
			denied: topicDenied},
		{name: "IncrementalAlterConfigs needs AlterConfigs Topic", grant: []auth.Binding{allowAlice(T, aclTopic, auth.OpAlterConfigs)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrIncrementalAlterConfigsRequest()
				rr := kmsg.NewIncrementalAlterConfigsRequestResource()
				rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, aclTopic
				c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
				c.Name, c.Value = "retention.ms", kmsg.StringPtr("86400000")
				rr.Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{c}
				req.Resources = []kmsg.IncrementalAlterConfigsRequestResource{rr}
				req.ValidateOnly = true
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode },
			denied: topicDenied},
		{name: "InitProducerId needs IdempotentWrite Cluster", grant: []auth.Binding{allowAlice(C, cl, auth.OpIdempotentWrite)},
			req:    func(*aclFixture) kmsg.Request { return kmsg.NewPtrInitProducerIDRequest() },
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.InitProducerIDResponse).ErrorCode },
			denied: clusterDenied},
		{name: "InitProducerId needs Write on any topic", grant: []auth.Binding{allowAlice(T, "orders-eu", auth.OpWrite)},
			req:    func(*aclFixture) kmsg.Request { return kmsg.NewPtrInitProducerIDRequest() },
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.InitProducerIDResponse).ErrorCode },
			denied: clusterDenied},
		{name: "DescribeLogDirs needs Describe Cluster", grant: []auth.Binding{allowAlice(C, cl, auth.OpDescribe)},
			req:    func(*aclFixture) kmsg.Request { return kmsg.NewPtrDescribeLogDirsRequest() },
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.DescribeLogDirsResponse).ErrorCode },
			denied: clusterDenied},
		{name: "DescribeProducers needs Read Topic", grant: []auth.Binding{allowAlice(T, aclTopic, auth.OpRead)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrDescribeProducersRequest()
				rt := kmsg.NewDescribeProducersRequestTopic()
				rt.Topic, rt.Partitions = aclTopic, []int32{0}
				req.Topics = []kmsg.DescribeProducersRequestTopic{rt}
				return req
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0].ErrorCode
			},
			denied: topicDenied},
		{name: "OffsetForLeaderEpoch needs Describe Topic", grant: []auth.Binding{allowAlice(T, aclTopic, auth.OpDescribe)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrOffsetForLeaderEpochRequest()
				rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
				rt.Topic = aclTopic
				rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
				rp.CurrentLeaderEpoch, rp.LeaderEpoch = -1, 0
				rt.Partitions = []kmsg.OffsetForLeaderEpochRequestTopicPartition{rp}
				req.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{rt}
				return req
			},
			code: func(r kmsg.Response) int16 {
				return r.(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0].ErrorCode
			},
			denied: topicDenied},
		{name: "DescribeAcls needs Describe Cluster", grant: []auth.Binding{allowAlice(C, cl, auth.OpDescribe)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrDescribeACLsRequest()
				req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
				req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.DescribeACLsResponse).ErrorCode },
			denied: clusterDenied},
		{name: "CreateAcls needs Alter Cluster", grant: []auth.Binding{allowAlice(C, cl, auth.OpAlter)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrCreateACLsRequest()
				c := kmsg.NewCreateACLsRequestCreation()
				c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeTopic, "x", kmsg.ACLResourcePatternTypeLiteral
				c.Principal, c.Host, c.Operation, c.PermissionType = "User:bob", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
				req.Creations = []kmsg.CreateACLsRequestCreation{c}
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.CreateACLsResponse).Results[0].ErrorCode },
			denied: clusterDenied},
		{name: "DeleteAcls needs Alter Cluster", grant: []auth.Binding{allowAlice(C, cl, auth.OpAlter)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrDeleteACLsRequest()
				f := anyACLFilter()
				f.Principal = kmsg.StringPtr("User:nobody")
				req.Filters = []kmsg.DeleteACLsRequestFilter{f}
				return req
			},
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.DeleteACLsResponse).Results[0].ErrorCode },
			denied: clusterDenied},
		{name: "AlterPartitionReassignments needs Alter Cluster", grant: []auth.Binding{allowAlice(C, cl, auth.OpAlter)},
			req: func(*aclFixture) kmsg.Request {
				req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
				rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
				rt.Topic = aclTopic
				rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
				rp.Replicas = []int32{NodeID}
				rt.Partitions = []kmsg.AlterPartitionAssignmentsRequestTopicPartition{rp}
				req.Topics = []kmsg.AlterPartitionAssignmentsRequestTopic{rt}
				return req
			},
			code: func(r kmsg.Response) int16 {
				resp := r.(*kmsg.AlterPartitionAssignmentsResponse)
				return cmp.Or(resp.ErrorCode, resp.Topics[0].Partitions[0].ErrorCode)
			},
			denied: clusterDenied},
		{name: "ListPartitionReassignments needs Describe Cluster", grant: []auth.Binding{allowAlice(C, cl, auth.OpDescribe)},
			req:    func(*aclFixture) kmsg.Request { return kmsg.NewPtrListPartitionReassignmentsRequest() },
			code:   func(r kmsg.Response) int16 { return r.(*kmsg.ListPartitionReassignmentsResponse).ErrorCode },
			denied: clusterDenied},
	}
}

// TestACLMatrixEveryAPIAllowedAndDenied sends each API as alice over a
// real socket: denied with no ACL, then allowed once the admin grants
// what Kafka checks, on the same connection (ACLs apply at once).
func TestACLMatrixEveryAPIAllowedAndDenied(t *testing.T) {
	f := newACLFixture(t)
	for _, tc := range aclCases() {
		t.Run(tc.name, func(t *testing.T) {
			deleteAllACLs(t, f.admin)
			if len(tc.base) > 0 {
				createACLs(t, f.admin, tc.base...)
			}
			if got := tc.code(node0(t, f.alice, tc.req(f))); got != tc.denied {
				t.Fatalf("with no ACL: error %d, want %d (%v)", got, tc.denied, kerr.ErrorForCode(tc.denied))
			}
			createACLs(t, f.admin, tc.grant...)
			got := tc.code(node0(t, f.alice, tc.req(f)))
			if tc.allowed == anyButDenied && got == tc.denied || tc.allowed != anyButDenied && got != tc.allowed {
				t.Fatalf("with %v: error %d (%v), want %d", tc.grant, got, kerr.ErrorForCode(got), tc.allowed)
			}
		})
	}
}
