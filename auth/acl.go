package auth

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// The enums below carry Kafka's wire codes (the int8 values of
// ResourceType, PatternType, AclOperation and AclPermissionType), so the
// server converts them with a cast and the ACL file stores them as they
// are on the wire.

// ResourceType is what an ACL is on.
type ResourceType int8

// Resource types, Kafka's codes.
const (
	ResourceUnknown         ResourceType = 0
	ResourceAny             ResourceType = 1 // filters only
	ResourceTopic           ResourceType = 2
	ResourceGroup           ResourceType = 3
	ResourceCluster         ResourceType = 4
	ResourceTransactionalID ResourceType = 5
	ResourceDelegationToken ResourceType = 6
	ResourceUser            ResourceType = 7
	// numResourceTypes sizes the per-type tables.
	numResourceTypes = 8
)

// PatternType says how an ACL's resource name matches (KIP-290).
type PatternType int8

// Pattern types, Kafka's codes.
const (
	PatternUnknown  PatternType = 0
	PatternAny      PatternType = 1 // filters only: any pattern type, the name exactly
	PatternMatch    PatternType = 2 // filters only: every pattern that matches the name
	PatternLiteral  PatternType = 3
	PatternPrefixed PatternType = 4
)

// Operation is what an ACL allows or denies.
type Operation int8

// Operations, Kafka's codes.
const (
	OpUnknown         Operation = 0
	OpAny             Operation = 1 // filters only
	OpAll             Operation = 2
	OpRead            Operation = 3
	OpWrite           Operation = 4
	OpCreate          Operation = 5
	OpDelete          Operation = 6
	OpAlter           Operation = 7
	OpDescribe        Operation = 8
	OpClusterAction   Operation = 9
	OpDescribeConfigs Operation = 10
	OpAlterConfigs    Operation = 11
	OpIdempotentWrite Operation = 12
	OpCreateTokens    Operation = 13
	OpDescribeTokens  Operation = 14
)

// Permission is ALLOW or DENY.
type Permission int8

// Permissions, Kafka's codes.
const (
	PermissionUnknown Permission = 0
	PermissionAny     Permission = 1 // filters only
	PermissionDeny    Permission = 2
	PermissionAllow   Permission = 3
)

const (
	// Wildcard is the resource name, host and principal name that match
	// everything.
	Wildcard = "*"
	// ClusterName is the one name of the Cluster resource.
	ClusterName = "kafka-cluster"
)

// ErrInvalidACL is a binding or filter that Kafka would refuse with
// INVALID_REQUEST.
var ErrInvalidACL = errors.New("auth: invalid ACL")

var resourceNames = map[ResourceType]string{
	ResourceUnknown: "Unknown", ResourceAny: "Any", ResourceTopic: "Topic", ResourceGroup: "Group",
	ResourceCluster: "Cluster", ResourceTransactionalID: "TransactionalId",
	ResourceDelegationToken: "DelegationToken", ResourceUser: "User",
}

func (r ResourceType) String() string {
	if s, ok := resourceNames[r]; ok {
		return s
	}
	return fmt.Sprintf("ResourceType(%d)", int8(r))
}

var patternNames = map[PatternType]string{
	PatternUnknown: "UNKNOWN", PatternAny: "ANY", PatternMatch: "MATCH",
	PatternLiteral: "LITERAL", PatternPrefixed: "PREFIXED",
}

func (p PatternType) String() string {
	if s, ok := patternNames[p]; ok {
		return s
	}
	return fmt.Sprintf("PatternType(%d)", int8(p))
}

var operationNames = map[Operation]string{
	OpUnknown: "Unknown", OpAny: "Any", OpAll: "All", OpRead: "Read", OpWrite: "Write",
	OpCreate: "Create", OpDelete: "Delete", OpAlter: "Alter", OpDescribe: "Describe",
	OpClusterAction: "ClusterAction", OpDescribeConfigs: "DescribeConfigs",
	OpAlterConfigs: "AlterConfigs", OpIdempotentWrite: "IdempotentWrite",
	OpCreateTokens: "CreateTokens", OpDescribeTokens: "DescribeTokens",
}

func (o Operation) String() string {
	if s, ok := operationNames[o]; ok {
		return s
	}
	return fmt.Sprintf("Operation(%d)", int8(o))
}

// ParseOperation reads an operation by Kafka's name, in any case and
// with or without underscores ("Read", "DESCRIBE_CONFIGS",
// "IdempotentWrite").
func ParseOperation(s string) (Operation, error) {
	k := strings.ToLower(strings.ReplaceAll(s, "_", ""))
	for op, name := range operationNames {
		if op > OpAny && strings.ToLower(name) == k {
			return op, nil
		}
	}
	return OpUnknown, fmt.Errorf("%w: unknown operation %q", ErrInvalidACL, s)
}

var permissionNames = map[Permission]string{
	PermissionUnknown: "UNKNOWN", PermissionAny: "ANY", PermissionDeny: "DENY", PermissionAllow: "ALLOW",
}

func (p Permission) String() string {
	if s, ok := permissionNames[p]; ok {
		return s
	}
	return fmt.Sprintf("Permission(%d)", int8(p))
}

// Binding is one ACL: on a resource pattern, a principal from a host may
// or may not do an operation (Kafka's AclBinding).
type Binding struct {
	ResourceType ResourceType
	ResourceName string
	PatternType  PatternType
	Principal    string // "User:alice" or "User:*"
	Host         string // an IP address or "*"
	Operation    Operation
	Permission   Permission
}

func (b Binding) String() string {
	return fmt.Sprintf("(%s:%s:%s, %s from %s %s %s)", b.ResourceType, b.PatternType, b.ResourceName,
		b.Principal, b.Host, b.Permission, b.Operation)
}

// Validate checks a binding as Kafka checks a new ACL, and returns it with
// its host in canonical form (an IP address as netip prints it, IPv4-mapped
// addresses as IPv4), the form connections are matched by.
func (b Binding) Validate() (Binding, error) {
	bad := func(format string, args ...any) (Binding, error) {
		return b, fmt.Errorf("%w: %s", ErrInvalidACL, fmt.Sprintf(format, args...))
	}
	switch b.ResourceType {
	case ResourceTopic, ResourceGroup, ResourceCluster, ResourceTransactionalID, ResourceDelegationToken, ResourceUser:
	default:
		return bad("invalid resource type %s", b.ResourceType)
	}
	if b.PatternType != PatternLiteral && b.PatternType != PatternPrefixed {
		return bad("invalid pattern type %s", b.PatternType)
	}
	if b.Operation <= OpAny || b.Operation > OpDescribeTokens {
		return bad("invalid operation %s", b.Operation)
	}
	if b.Permission != PermissionAllow && b.Permission != PermissionDeny {
		return bad("invalid permission %s", b.Permission)
	}
	if b.ResourceName == "" {
		return bad("empty resource name")
	}
	if b.ResourceType == ResourceCluster && b.ResourceName != ClusterName {
		return bad("the only valid name for the CLUSTER resource is %s", ClusterName)
	}
	if _, err := ParsePrincipal(b.Principal); err != nil {
		return b, err
	}
	h, err := canonicalHost(b.Host)
	if err != nil {
		return b, err
	}
	b.Host = h
	return b, nil
}

// canonicalHost is host as connections are matched: "*", or the IP
// address in netip's form.
func canonicalHost(host string) (string, error) {
	if host == Wildcard {
		return host, nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return "", fmt.Errorf("%w: host %q is not an IP address or *", ErrInvalidACL, host)
	}
	return a.Unmap().String(), nil
}

// Filter selects bindings (Kafka's AclBindingFilter): ResourceAny,
// PatternAny or PatternMatch, OpAny and PermissionAny match any value, and
// a nil name, principal or host matches any.
type Filter struct {
	ResourceType ResourceType
	ResourceName *string
	PatternType  PatternType
	Principal    *string
	Host         *string
	Operation    Operation
	Permission   Permission
}

// Validate refuses a filter with an unknown field, as Kafka does.
func (f Filter) Validate() error {
	switch {
	case f.ResourceType <= ResourceUnknown || f.ResourceType > ResourceUser:
		return fmt.Errorf("%w: filter resource type %s", ErrInvalidACL, f.ResourceType)
	case f.PatternType <= PatternUnknown || f.PatternType > PatternPrefixed:
		return fmt.Errorf("%w: filter pattern type %s", ErrInvalidACL, f.PatternType)
	case f.Operation <= OpUnknown || f.Operation > OpDescribeTokens:
		return fmt.Errorf("%w: filter operation %s", ErrInvalidACL, f.Operation)
	case f.Permission <= PermissionUnknown || f.Permission > PermissionAllow:
		return fmt.Errorf("%w: filter permission %s", ErrInvalidACL, f.Permission)
	}
	return nil
}

// Matches reports whether the filter selects b, with Kafka's rules
// (ResourcePatternFilter.matches and AccessControlEntryFilter.matches).
func (f Filter) Matches(b Binding) bool {
	if f.ResourceType != ResourceAny && f.ResourceType != b.ResourceType {
		return false
	}
	if f.PatternType != PatternAny && f.PatternType != PatternMatch && f.PatternType != b.PatternType {
		return false
	}
	if f.ResourceName != nil {
		name := *f.ResourceName
		switch {
		case f.PatternType == PatternAny || f.PatternType == b.PatternType:
			if name != b.ResourceName {
				return false
			}
		case b.PatternType == PatternLiteral: // MATCH
			if name != b.ResourceName && b.ResourceName != Wildcard {
				return false
			}
		case b.PatternType == PatternPrefixed: // MATCH
			if !strings.HasPrefix(name, b.ResourceName) {
				return false
			}
		default:
			return false
		}
	}
	if f.Principal != nil && *f.Principal != b.Principal {
		return false
	}
	if f.Host != nil && *f.Host != b.Host {
		return false
	}
	if f.Operation != OpAny && f.Operation != b.Operation {
		return false
	}
	return f.Permission == PermissionAny || f.Permission == b.Permission
}

// WildcardPrincipal, "User:*" in an ACL, matches every user.
var WildcardPrincipal = Principal{Type: PrincipalTypeUser, Name: Wildcard}

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
