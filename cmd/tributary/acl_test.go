package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/server"
)

// startACLCLIBroker is a broker with an authorizer whose super user is
// User:ANONYMOUS, the principal of the CLI until it authenticates.
func startACLCLIBroker(t *testing.T) *cliBroker {
	return startCLIBroker(t, func(c *server.Config) {
		c.Authorizer = auth.StandardAuthorizerClass
		c.SuperUsers = []string{auth.Anonymous.String()}
	})
}

func listACLs(t *testing.T, b *cliBroker, args ...string) []aclRow {
	t.Helper()
	r := b.must(t, "", append([]string{"acl", "list", "--output", "json"}, args...)...)
	var rows []aclRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("acl list json: %v\n%s", err, r.stdout)
	}
	return rows
}

func TestACLCreateListDelete(t *testing.T) {
	b := startACLCLIBroker(t)
	r := b.must(t, "", "acl", "create", "--allow-principal", "User:alice", "--operation", "Read", "--operation", "describe",
		"--topic", "orders", "--group", "billing")
	for _, want := range []string{"Topic", "orders", "LITERAL", "User:alice", "Read", "Describe", "Group", "billing", "ALLOW"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("acl create output lacks %q:\n%s", want, r.stdout)
		}
	}
	b.must(t, "", "acl", "create", "--allow-principal", "ingest", "--operation", "Write", "--topic", "logs-", "--resource-pattern-type", "prefixed")
	b.must(t, "", "acl", "create", "--deny-principal", "User:mallory", "--deny-host", "10.0.0.7", "--operation", "All", "--topic", "*")
	b.must(t, "", "acl", "create", "--allow-principal", "User:ops", "--operation", "Alter", "--cluster")

	if rows := listACLs(t, b); len(rows) != 7 {
		t.Fatalf("acl list: %d ACLs, want 7: %+v", len(rows), rows)
	}
	// MATCH finds every pattern that applies to a name: the literal "*" DENY
	// and the prefixed logs- ALLOW for topic logs-app.
	rows := listACLs(t, b, "--topic", "logs-app", "--resource-pattern-type", "match")
	if len(rows) != 2 || rows[0].Name == rows[1].Name {
		t.Fatalf("acl list match logs-app: %+v", rows)
	}
	for _, r := range rows {
		switch {
		case r.Name == "*" && r.Permission == "DENY" && r.Host == "10.0.0.7" && r.Principal == "User:mallory" && r.Operation == "All":
		case r.Name == "logs-" && r.Pattern == "PREFIXED" && r.Principal == "User:ingest" && r.Operation == "Write":
		default:
			t.Errorf("unexpected ACL %+v", r)
		}
	}
	if rows := listACLs(t, b, "--principal", "User:alice"); len(rows) != 4 {
		t.Errorf("acl list --principal User:alice: %+v", rows)
	}

	r = b.must(t, "", "acl", "delete", "--allow-principal", "User:alice", "--operation", "Read", "--topic", "orders")
	if !strings.Contains(r.stdout, "orders") || strings.Count(r.stdout, "User:alice") != 1 {
		t.Errorf("acl delete output:\n%s", r.stdout)
	}
	b.must(t, "", "acl", "delete", "--group", "billing")
	if rows := listACLs(t, b, "--principal", "User:alice"); len(rows) != 1 || rows[0].Operation != "Describe" {
		t.Errorf("after delete, alice has %+v, want only Describe on orders", rows)
	}

	b.fails(t, 2, "name at least one --operation", "acl", "create", "--allow-principal", "User:a", "--topic", "t")
	b.fails(t, 2, "name a resource", "acl", "create", "--allow-principal", "User:a", "--operation", "Read")
	b.fails(t, 2, "name a resource", "acl", "delete", "--allow-principal", "User:a")
	b.fails(t, 2, "--operation \"Sing\"", "acl", "create", "--allow-principal", "User:a", "--operation", "Sing", "--topic", "t")
	b.fails(t, 2, "--resource-pattern-type \"match\"", "acl", "create", "--allow-principal", "User:a", "--operation", "Read", "--topic", "t", "--resource-pattern-type", "match")
	b.fails(t, 1, "INVALID_REQUEST", "acl", "create", "--allow-principal", "User:a", "--allow-host", "not-an-ip", "--operation", "Read", "--topic", "t")
}

func TestACLCommandsSaySecurityIsDisabledWithoutAuthorizer(t *testing.T) {
	b := startCLIBroker(t)
	b.fails(t, 1, "SECURITY_DISABLED", "acl", "list")
	b.fails(t, 1, "SECURITY_DISABLED", "acl", "create", "--allow-principal", "User:a", "--operation", "Read", "--topic", "t")
}
