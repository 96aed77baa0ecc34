package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary-io/tributary/auth"
)

func init() { rootCmd.AddCommand(newACLCmd()) }

// newACLCmd is `tributary acl`, the kafka-acls of tributary, with its
// flags: --allow-principal, --deny-principal, --allow-host, --deny-host,
// --operation, --topic, --group, --cluster, --transactional-id and
// --resource-pattern-type.
func newACLCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Create, list and delete ACLs (the broker needs authorizer.class.name)",
		Example: `  tributary acl create --allow-principal User:alice --operation Read --operation Describe --topic orders
  tributary acl create --allow-principal User:alice --operation Write --topic orders- --resource-pattern-type prefixed
  tributary acl create --deny-principal User:mallory --deny-host 10.0.0.7 --operation All --topic '*'
  tributary acl list --topic orders --resource-pattern-type match
  tributary acl delete --allow-principal User:alice --topic orders`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newACLCreateCmd(), newACLListCmd(), newACLDeleteCmd())
	return cmd
}

// aclFlags are kafka-acls.sh's options.
type aclFlags struct {
	allowPrincipals, denyPrincipals []string
	allowHosts, denyHosts           []string
	principals                      []string // list: either permission
	operations                      []string
	topics, groups, txnIDs          []string
	cluster                         bool
	pattern                         string
	output                          outputFormat
}

func (a *aclFlags) add(cmd *cobra.Command, list bool) {
	f := cmd.Flags()
	f.StringArrayVar(&a.allowPrincipals, "allow-principal", nil, "principal to allow, as User:NAME (User:* for everyone; repeatable)")
	f.StringArrayVar(&a.denyPrincipals, "deny-principal", nil, "principal to deny, as User:NAME (repeatable)")
	f.StringArrayVar(&a.allowHosts, "allow-host", nil, "IP address the allow applies from (default: every host, *)")
	f.StringArrayVar(&a.denyHosts, "deny-host", nil, "IP address the deny applies from (default: every host, *)")
	f.StringArrayVar(&a.operations, "operation", nil, "Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite or All (repeatable)")
	f.StringArrayVar(&a.topics, "topic", nil, "topic (or prefix, or * for every topic; repeatable)")
	f.StringArrayVar(&a.groups, "group", nil, "consumer group (or prefix, or *; repeatable)")
	f.StringArrayVar(&a.txnIDs, "transactional-id", nil, "transactional id (or prefix, or *; repeatable)")
	f.BoolVar(&a.cluster, "cluster", false, "the cluster resource (kafka-cluster)")
	if list {
		f.StringArrayVar(&a.principals, "principal", nil, "only ACLs of this principal, allowed or denied (repeatable)")
		f.StringVar(&a.pattern, "resource-pattern-type", "", "literal, prefixed, any or match (default: literal with a resource, any without)")
	} else {
		f.StringVar(&a.pattern, "resource-pattern-type", "literal", "literal or prefixed")
	}
	addOutputFlag(cmd, &a.output)
}

func (a *aclFlags) hasResource() bool {
	return len(a.topics) > 0 || len(a.groups) > 0 || len(a.txnIDs) > 0 || a.cluster
}

// userPrincipal reads a principal as kafka-acls does, taking a bare name
// as a user ("alice" is User:alice).
func userPrincipals(ps []string) ([]string, error) {
	out := make([]string, len(ps))
	for i, p := range ps {
		if !strings.Contains(p, ":") {
			p = auth.PrincipalTypeUser + ":" + p
		}
		if _, err := auth.ParsePrincipal(p); err != nil {
			return nil, usageError{err}
		}
		out[i] = p
	}
	return out, nil
}

func parsePattern(s string, filter bool) (kadm.ACLPattern, error) {
	switch strings.ToLower(s) {
	case "literal":
		return kadm.ACLPatternLiteral, nil
	case "prefixed":
		return kadm.ACLPatternPrefixed, nil
	case "any":
		if filter {
			return kadm.ACLPatternAny, nil
		}
	case "match":
		if filter {
			return kadm.ACLPatternMatch, nil
		}
	}
	want := "literal or prefixed"
	if filter {
		want = "literal, prefixed, any or match"
	}
	return 0, usageError{fmt.Errorf("--resource-pattern-type %q: want %s", s, want)}
}

func parseOperations(ops []string) ([]kadm.ACLOperation, error) {
	out := make([]kadm.ACLOperation, len(ops))
	for i, o := range ops {
		op, err := auth.ParseOperation(o)
		if err != nil {
			return nil, usageError{fmt.Errorf("--operation %q: want Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite or All", o)}
		}
		out[i] = kmsg.ACLOperation(op)
	}
	return out, nil
}

// builder turns the flags into kadm's ACL builder: for create, the
// bindings; for list and delete, the filters (no principal, host or
// operation given means any).
func (a *aclFlags) builder(filter bool) (*kadm.ACLBuilder, error) {
	allow, err := userPrincipals(a.allowPrincipals)
	if err != nil {
		return nil, err
	}
	deny, err := userPrincipals(a.denyPrincipals)
	if err != nil {
		return nil, err
	}
	either, err := userPrincipals(a.principals)
	if err != nil {
		return nil, err
	}
	ops, err := parseOperations(a.operations)
	if err != nil {
		return nil, err
	}
	pattern := a.pattern
	if pattern == "" {
		pattern = "literal"
		if !a.hasResource() {
			pattern = "any"
		}
	}
	p, err := parsePattern(pattern, filter)
	if err != nil {
		return nil, err
	}
	b := kadm.NewACLs().ResourcePatternType(p).
		MaybeTopics(a.topics...).MaybeGroups(a.groups...).MaybeTransactionalIDs(a.txnIDs...).MaybeClusters(a.cluster)
	if !filter {
		if len(allow) == 0 && len(deny) == 0 {
			return nil, usageError{errors.New("name at least one --allow-principal or --deny-principal")}
		}
		if len(ops) == 0 {
			return nil, usageError{errors.New("name at least one --operation")}
		}
		if !a.hasResource() {
			return nil, usageError{errors.New("name a resource: --topic, --group, --transactional-id or --cluster")}
		}
		b = b.MaybeAllow(allow...).MaybeAllowHosts(a.allowHosts...).MaybeDeny(deny...).MaybeDenyHosts(a.denyHosts...).Operations(ops...)
		return b, b.ValidateCreate()
	}
	if !a.hasResource() {
		b = b.AnyResource()
	}
	if len(ops) == 0 {
		ops = []kadm.ACLOperation{kadm.OpAny}
	}
	b = b.Operations(ops...)
	switch {
	case len(either) > 0:
		b = b.Allow(either...).AllowHosts(a.allowHosts...).Deny(either...).DenyHosts(a.denyHosts...)
	case len(allow) == 0 && len(deny) == 0:
		b = b.Allow().AllowHosts(a.allowHosts...).Deny().DenyHosts(a.denyHosts...)
	default:
		if len(allow) > 0 {
			b = b.Allow(allow...).AllowHosts(a.allowHosts...)
		}
		if len(deny) > 0 {
			b = b.Deny(deny...).DenyHosts(a.denyHosts...)
		}
	}
	return b, b.ValidateFilter()
}

// aclRow is one ACL as the commands print it.
type aclRow struct {
	ResourceType string `json:"resource_type"`
	Name         string `json:"name"`
	Pattern      string `json:"pattern"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
	Error        string `json:"error,omitempty"`
}

func newACLRow(rt kmsg.ACLResourceType, name string, p kadm.ACLPattern, principal, host string, op kadm.ACLOperation, perm kmsg.ACLPermissionType) aclRow {
	return aclRow{
		ResourceType: auth.ResourceType(rt).String(), Name: name, Pattern: auth.PatternType(p).String(),
		Principal: principal, Host: host, Operation: auth.Operation(op).String(), Permission: auth.Permission(perm).String(),
	}
}

func printACLs(cmd *cobra.Command, output outputFormat, rows []aclRow) error {
	w := cmd.OutOrStdout()
	if output == "json" {
		if rows == nil {
			rows = []aclRow{}
		}
		return writeJSON(w, rows)
	}
	table := make([][]string, len(rows))
	for i, r := range rows {
		table[i] = []string{r.ResourceType, r.Name, r.Pattern, r.Principal, r.Host, r.Operation, r.Permission}
	}
	return printTable(w, []string{"RESOURCE", "NAME", "PATTERN", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION"}, table)
}

func newACLCreateCmd() *cobra.Command {
	var a aclFlags
	cmd := &cobra.Command{
		Use:     "create",
		Aliases: []string{"add"},
		Short:   "Create ACLs: each principal × host × operation × resource",
		Example: `  tributary acl create --allow-principal User:alice --operation Read --topic orders --group billing
  tributary acl create --allow-principal User:ingest --operation Write --topic logs- --resource-pattern-type prefixed
  tributary acl create --allow-principal User:admin --operation All --cluster`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := a.builder(false)
			if err != nil {
				return fmt.Errorf("acl create: %w", err)
			}
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				res, err := adm.CreateACLs(ctx, b)
				if err != nil {
					return fmt.Errorf("acl create: %w", err)
				}
				var rows []aclRow
				var firstErr error
				for _, r := range res {
					row := newACLRow(r.Type, r.Name, r.Pattern, r.Principal, r.Host, r.Operation, r.Permission)
					if r.Err != nil {
						row.Error = kafkaErr(r.Err, r.ErrMessage).Error()
						if firstErr == nil {
							firstErr = fmt.Errorf("acl create: %w", kafkaErr(r.Err, r.ErrMessage))
						}
						continue
					}
					rows = append(rows, row)
				}
				if err := printACLs(cmd, a.output, rows); err != nil {
					return err
				}
				return firstErr
			})
		},
	}
	a.add(cmd, false)
	return cmd
}

func newACLListCmd() *cobra.Command {
	var a aclFlags
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List ACLs, all of them or those matching the flags",
		Example: `  tributary acl list
  tributary acl list --topic orders --resource-pattern-type match
  tributary acl list --principal User:alice --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := a.builder(true)
			if err != nil {
				return fmt.Errorf("acl list: %w", err)
			}
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				res, err := adm.DescribeACLs(ctx, b)
				if err != nil {
					return fmt.Errorf("acl list: %w", err)
				}
				var rows []aclRow
				seen := map[aclRow]bool{}
				for _, r := range res {
					if r.Err != nil {
						return fmt.Errorf("acl list: %w", kafkaErr(r.Err, r.ErrMessage))
					}
					for _, d := range r.Described {
						row := newACLRow(d.Type, d.Name, d.Pattern, d.Principal, d.Host, d.Operation, d.Permission)
						if !seen[row] { // several filters may match one ACL
							seen[row] = true
							rows = append(rows, row)
						}
					}
				}
				return printACLs(cmd, a.output, rows)
			})
		},
	}
	a.add(cmd, true)
	return cmd
}

func newACLDeleteCmd() *cobra.Command {
	var a aclFlags
	cmd := &cobra.Command{
		Use:     "delete",
		Aliases: []string{"remove"},
		Short:   "Delete the ACLs matching the flags (a resource is required)",
		Example: `  tributary acl delete --allow-principal User:alice --operation Read --topic orders
  tributary acl delete --topic orders-  --resource-pattern-type prefixed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !a.hasResource() {
				// As kafka-acls --remove: never everything by accident.
				return usageError{errors.New("acl delete: name a resource: --topic, --group, --transactional-id or --cluster")}
			}
			b, err := a.builder(true)
			if err != nil {
				return fmt.Errorf("acl delete: %w", err)
			}
			return withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				res, err := adm.DeleteACLs(ctx, b)
				if err != nil {
					return fmt.Errorf("acl delete: %w", err)
				}
				var rows []aclRow
				seen := map[aclRow]bool{}
				for _, r := range res {
					if r.Err != nil {
						return fmt.Errorf("acl delete: %w", kafkaErr(r.Err, r.ErrMessage))
					}
					for _, d := range r.Deleted {
						row := newACLRow(d.Type, d.Name, d.Pattern, d.Principal, d.Host, d.Operation, d.Permission)
						if !seen[row] {
							seen[row] = true
							rows = append(rows, row)
						}
					}
				}
				return printACLs(cmd, a.output, rows)
			})
		},
	}
	a.add(cmd, true)
	return cmd
}
