package server

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
)

// Test principals, each the principal of connections from its own
// loopback address (withPrincipals); 127.0.0.1 is User:ANONYMOUS.
const (
	adminIP = "127.0.0.2" // User:admin, a super user
	aliceIP = "127.0.0.3" // User:alice
	bobIP   = "127.0.0.4" // User:bob
)

var testPrincipals = map[string]auth.Principal{
	adminIP: {Type: "User", Name: "admin"},
	aliceIP: {Type: "User", Name: "alice"},
	bobIP:   {Type: "User", Name: "bob"},
}

// startACLBroker starts a broker with Kafka's StandardAuthorizer, User:admin
// as its super user and the test principals.
func startACLBroker(t testing.TB, dir string, opts ...brokerOpt) *testBroker {
	t.Helper()
	return startBrokerIn(t, dir, append([]brokerOpt{withAuthorizer("User:admin"), withPrincipals(testPrincipals)}, opts...)...)
}

// clientFrom is a franz-go client whose connections come from ip, so act
// as ip's principal.
func (b *testBroker) clientFrom(ip string, opts ...kgo.Opt) *kgo.Client {
	b.t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return b.client(append([]kgo.Opt{kgo.Dialer(d.DialContext), kgo.RequestRetries(0), kgo.RetryTimeout(time.Second)}, opts...)...)
}

// node0 sends req straight to the broker (node 0), without the
// coordinator look-ups kgo's Client.Request does for group requests.
func node0(t testing.TB, cl *kgo.Client, req kmsg.Request) kmsg.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.Broker(0).Request(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

// binding is a test ACL.
func binding(rt auth.ResourceType, pt auth.PatternType, name, principal string, op auth.Operation, perm auth.Permission) auth.Binding {
	return auth.Binding{ResourceType: rt, PatternType: pt, ResourceName: name, Principal: principal, Host: "*", Operation: op, Permission: perm}
}

func allowAlice(rt auth.ResourceType, name string, op auth.Operation) auth.Binding {
	return binding(rt, auth.PatternLiteral, name, "User:alice", op, auth.PermissionAllow)
}

// createACLs creates bindings through CreateAcls as cl's principal and
// fails the test on any error.
func createACLs(t testing.TB, cl *kgo.Client, bs ...auth.Binding) {
	t.Helper()
	req := kmsg.NewPtrCreateACLsRequest()
	for _, b := range bs {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceType(b.ResourceType), b.ResourceName, kmsg.ACLResourcePatternType(b.PatternType)
		c.Principal, c.Host = b.Principal, b.Host
		c.Operation, c.PermissionType = kmsg.ACLOperation(b.Operation), kmsg.ACLPermissionType(b.Permission)
		req.Creations = append(req.Creations, c)
	}
	resp := node0(t, cl, req).(*kmsg.CreateACLsResponse)
	for i, r := range resp.Results {
		if r.ErrorCode != 0 {
			t.Fatalf("CreateAcls %v: error %d %v", bs[i], r.ErrorCode, r.ErrorMessage)
		}
	}
}

// anyACLFilter matches every binding.
func anyACLFilter() kmsg.DeleteACLsRequestFilter {
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	return f
}

// deleteAllACLs removes every binding through DeleteAcls.
func deleteAllACLs(t testing.TB, cl *kgo.Client) {
	t.Helper()
	req := kmsg.NewPtrDeleteACLsRequest()
	req.Filters = []kmsg.DeleteACLsRequestFilter{anyACLFilter()}
	resp := node0(t, cl, req).(*kmsg.DeleteACLsResponse)
	if c := resp.Results[0].ErrorCode; c != 0 {
		t.Fatalf("DeleteAcls: error %d", c)
	}
}

// describeAllACLs lists every binding through DescribeAcls.
func describeAllACLs(t testing.TB, cl *kgo.Client) *kmsg.DescribeACLsResponse {
	t.Helper()
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	return node0(t, cl, req).(*kmsg.DescribeACLsResponse)
}
