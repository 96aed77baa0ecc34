package server

// Authorization: every API checks what Kafka's KafkaApis checks (its
// AuthHelper.authorize calls), against the server's auth.Authorizer.
// Without authorizer.class.name the authorizer is nil and every check is
// one nil test: no lock, no allocation, today's behaviour. With one, a
// check is a lock-free look-up in the authorizer's current snapshot,
// which CreateAcls and DeleteAcls replace for every connection at once.

import (
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
	tlog "github.com/tributary-io/tributary/log"
)

// aclFile is where the ACLs live in the data dir (package auth documents
// its format).
var aclFile = filepath.Join("meta", "acls")

// authorize reports whether the connection's principal may do op on the
// resource, counting a denial against api (and logging it at debug level,
// as Kafka's authorizer log does at info: a client missing an ACL can deny
// thousands of requests a second). Always true without an authorizer.
func (c *conn) authorize(api int16, op auth.Operation, rt auth.ResourceType, name string) bool {
	a := c.s.authz
	if a == nil || a.Authorize(c.principal, c.host, op, rt, name) {
		return true
	}
	c.denied(api, op, rt, name)
	return false
}

// denied counts and logs one refused check.
func (c *conn) denied(api int16, op auth.Operation, rt auth.ResourceType, name string) {
	c.s.metrics.denied(api, rt)
	c.s.logger.Debug("server: authorization denied", "principal", c.principal.String(), "host", c.host,
		"api", apis[api].name, "operation", op.String(), "resource", rt.String(), "name", name)
}

// authorizeCluster is authorize on the cluster resource.
func (c *conn) authorizeCluster(api int16, op auth.Operation) bool {
	return c.authorize(api, op, auth.ResourceCluster, auth.ClusterName)
}

// mayDescribe reports whether the principal may see a resource in a
// listing (Metadata's topics, ListGroups' groups): Describe on it. A
// resource left out of a listing is not counted as a denial, as Kafka
// does not log those.
func (c *conn) mayDescribe(rt auth.ResourceType, name string) bool {
	return c.permits(auth.OpDescribe, rt, name)
}

// permits is authorize without counting a denial: for what a request
// leaves out rather than refuses.
func (c *conn) permits(op auth.Operation, rt auth.ResourceType, name string) bool {
	a := c.s.authz
	return a == nil || a.Authorize(c.principal, c.host, op, rt, name)
}

// mayCreateTopic reports whether the principal may create topic name:
// Create on the cluster, or on the topic (as Kafka's CreateTopics and
// Metadata auto-creation check).
func (c *conn) mayCreateTopic(api int16, name string) bool {
	a := c.s.authz
	if a == nil || a.Authorize(c.principal, c.host, auth.OpCreate, auth.ResourceCluster, auth.ClusterName) {
		return true
	}
	return c.authorize(api, auth.OpCreate, auth.ResourceTopic, name)
}

// mayWriteIdempotently is InitProducerId's check for an idempotent
// producer: IdempotentWrite on the cluster, or Write on any topic (KIP-679).
func (c *conn) mayWriteIdempotently(api int16) bool {
	a := c.s.authz
	if a == nil || a.Authorize(c.principal, c.host, auth.OpIdempotentWrite, auth.ResourceCluster, auth.ClusterName) {
		return true
	}
	if a.AuthorizeAny(c.principal, c.host, auth.OpWrite, auth.ResourceTopic) {
		return true
	}
	c.denied(api, auth.OpIdempotentWrite, auth.ResourceCluster, auth.ClusterName)
	return false
}

// authorizeConfigs checks op (DescribeConfigs or AlterConfigs) on a
// config resource as Kafka does: on the topic for a topic
// (TOPIC_AUTHORIZATION_FAILED), on the cluster for a broker or broker
// logger (CLUSTER_AUTHORIZATION_FAILED). Other types are not checked
// here: the handlers refuse them.
func (c *conn) authorizeConfigs(api int16, op auth.Operation, rt kmsg.ConfigResourceType, name string) int16 {
	switch rt {
	case kmsg.ConfigResourceTypeTopic:
		if !c.authorize(api, op, auth.ResourceTopic, name) {
			return kerr.TopicAuthorizationFailed.Code
		}
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		if !c.authorizeCluster(api, op) {
			return kerr.ClusterAuthorizationFailed.Code
		}
	}
	return 0
}

// authorizedTopic is requestTopic with op on the topic checked first, as
// Kafka checks it: a topic named in the request that the principal may not
// use answers TOPIC_AUTHORIZATION_FAILED whether it exists or not; a topic
// named by an ID is looked up first (an unknown ID is UNKNOWN_TOPIC_ID).
func (c *conn) authorizedTopic(api int16, op auth.Operation, byID bool, name string, id [16]byte) (*tlog.Topic, *topicMetrics, int16) {
	t, tm, code := c.s.requestTopic(byID, name, id)
	if c.s.authz == nil {
		return t, tm, code
	}
	if byID {
		if t == nil {
			return t, tm, code
		}
		name = t.Name
	}
	if !c.authorize(api, op, auth.ResourceTopic, name) {
		return nil, nil, kerr.TopicAuthorizationFailed.Code
	}
	return t, tm, code
}

// supportedOperations are the operations Kafka defines on each resource
// type (AclEntry.supportedOperations), for the authorized-operations bit
// sets of KIP-430.
var supportedOperations = map[auth.ResourceType][]auth.Operation{
	auth.ResourceTopic: {auth.OpRead, auth.OpWrite, auth.OpCreate, auth.OpDescribe, auth.OpDelete,
		auth.OpAlter, auth.OpDescribeConfigs, auth.OpAlterConfigs},
	auth.ResourceGroup: {auth.OpRead, auth.OpDescribe, auth.OpDelete},
	auth.ResourceCluster: {auth.OpCreate, auth.OpClusterAction, auth.OpDescribeConfigs, auth.OpAlterConfigs,
		auth.OpIdempotentWrite, auth.OpAlter, auth.OpDescribe},
	auth.ResourceTransactionalID: {auth.OpDescribe, auth.OpWrite},
}

// authorizedOperations is KIP-430's bit set (1 << Kafka's operation code)
// of the operations the principal may do on a resource: all the type's
// operations without an authorizer, as Kafka answers.
func (c *conn) authorizedOperations(rt auth.ResourceType, name string) int32 {
	var ops int32
	for _, op := range supportedOperations[rt] {
		if c.permits(op, rt, name) {
			ops |= 1 << op
		}
	}
	return ops
}

// clusterAuthorizedOperations is the cluster's bit set as Metadata and
// DescribeCluster answer it: 0 to a principal that may not Describe the
// cluster.
func (c *conn) clusterAuthorizedOperations() int32 {
	if !c.permits(auth.OpDescribe, auth.ResourceCluster, auth.ClusterName) {
		return 0
	}
	return c.authorizedOperations(auth.ResourceCluster, auth.ClusterName)
}

// ACL API error answers.
var (
	// errSecurityDisabled answers the ACL APIs without an authorizer.
	errSecurityDisabled = kerr.SecurityDisabled
	// securityDisabledMsg is Kafka's message for it.
	securityDisabledMsg = "No Authorizer is configured on the broker"
)

// aclFilter converts a wire filter.
func aclFilter(rt, pt, op, perm int8, name, principal, host *string) auth.Filter {
	return auth.Filter{
		ResourceType: auth.ResourceType(rt), ResourceName: name, PatternType: auth.PatternType(pt),
		Principal: principal, Host: host, Operation: auth.Operation(op), Permission: auth.Permission(perm),
	}
}

// kmsgACLFields are a binding's fields as kmsg's enums.
func kmsgACLFields(b auth.Binding) (kmsg.ACLResourceType, kmsg.ACLResourcePatternType, kmsg.ACLOperation, kmsg.ACLPermissionType) {
	return kmsg.ACLResourceType(b.ResourceType), kmsg.ACLResourcePatternType(b.PatternType),
		kmsg.ACLOperation(b.Operation), kmsg.ACLPermissionType(b.Permission)
}
