package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Kafka's authorizer class names, either of which turns ACLs on
// (authorizer.class.name): the KRaft one and the ZooKeeper-era one. Both
// evaluate the same way here.
const (
	StandardAuthorizerClass = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
	AclAuthorizerClass      = "kafka.security.authorizer.AclAuthorizer"
)

// ErrUnknownAuthorizer is an authorizer.class.name that names neither of
// Kafka's authorizers.
var ErrUnknownAuthorizer = errors.New("auth: unknown authorizer class")

// CheckAuthorizerClass accepts "" (no authorizer) and Kafka's two class
// names.
func CheckAuthorizerClass(name string) error {
	switch name {
	case "", StandardAuthorizerClass, AclAuthorizerClass:
		return nil
	}
	return fmt.Errorf("%w %q: Java authorizer plugins cannot be loaded; use %s (or %s)",
		ErrUnknownAuthorizer, name, StandardAuthorizerClass, AclAuthorizerClass)
}

// ParseSuperUsers reads super.users: principals separated by semicolons
// ("User:admin;User:ops"), blanks ignored.
func ParseSuperUsers(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if _, err := ParsePrincipal(p); err != nil {
			return nil, fmt.Errorf("auth: super.users: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// Config configures an Authorizer.
type Config struct {
	// Path is the ACL file (framed, see doc.go); "" keeps ACLs in memory
	// only.
	Path string
	// SuperUsers are super.users: principals ("User:admin") allowed
	// everything, whatever the ACLs say.
	SuperUsers []string
	// AllowEveryoneIfNoACLFound is allow.everyone.if.no.acl.found: a
	// resource without any ACL is open to all rather than to nobody.
	AllowEveryoneIfNoACLFound bool
}

// ACLBackend keeps ACL bindings somewhere other than the Authorizer's
// file: a cluster's metadata store, shared and watched by every broker.
// The Authorizer keeps its lookup index in memory either way and rebuilds
// it from ACLs only when ACLVersion moves (Refresh), never per request.
type ACLBackend interface {
	// ACLVersion changes whenever the stored bindings do.
	ACLVersion() int64
	// ACLs returns every stored binding, each valid and canonical as
	// Binding.Validate returns it, and the version they are at.
	ACLs() (bindings []Binding, version int64)
	// CreateACLs stores bindings (valid, canonical); one already stored
	// is left as it is. On return they are in ACLs.
	CreateACLs(bindings []Binding) error
	// DeleteACLs removes every stored binding match selects, deciding
	// against the stored state, and returns those it removed. On return
	// they are gone from ACLs.
	DeleteACLs(match func(Binding) bool) ([]Binding, error)
}

// Authorizer decides requests against ACL bindings as Kafka's
// StandardAuthorizer does, and keeps the bindings durably in its file or
// in an ACLBackend.
//
// Reads (Authorize) take no lock and allocate nothing: they load the
// current snapshot, an immutable lookup table, with one atomic load.
// Changes (Create, Delete) are serialised by mu, write the whole file (or
// the backend) and then publish a new snapshot, so a change is durable
// before any connection sees it, and every connection sees it on its next
// request. With a backend, changes made elsewhere arrive by Refresh.
type Authorizer struct {
	cfg   Config
	super map[Principal]struct{}

	mu      sync.Mutex // serialises Create, Delete, Refresh and UseBackend
	backend ACLBackend // guarded by mu; nil: the file of cfg.Path
	snap    atomic.Pointer[snapshot]
}

// entry is a binding reduced to what a decision reads.
type entry struct {
	principal  Principal
	host       string
	op         Operation
	permission Permission
}

// snapshot is one immutable set of bindings and its lookup tables. The
// tables are indexed by resource type; literal holds the LITERAL patterns
// (the "*" wildcard among them) by name, prefixed the PREFIXED ones by
// prefix, and prefixLens the distinct prefix lengths in use, so a name is
// matched against prefixes by one map look-up per length in use rather
// than per character.
type snapshot struct {
	version    int64     // the backend's ACLVersion it was built from
	bindings   []Binding // sorted (sortBindings), as stored
	literal    [numResourceTypes]map[string][]entry
	prefixed   [numResourceTypes]map[string][]entry
	prefixLens [numResourceTypes][]int
}

func newSnapshot(bindings []Binding) *snapshot {
	s := &snapshot{bindings: bindings}
	for _, b := range bindings {
		p, _ := ParsePrincipal(b.Principal) // validated before it got here
		e := entry{principal: p, host: b.Host, op: b.Operation, permission: b.Permission}
		rt := b.ResourceType
		if rt < 0 || rt >= numResourceTypes {
			continue
		}
		tbl := &s.literal[rt]
		if b.PatternType == PatternPrefixed {
			tbl = &s.prefixed[rt]
			if !slices.Contains(s.prefixLens[rt], len(b.ResourceName)) {
				s.prefixLens[rt] = append(s.prefixLens[rt], len(b.ResourceName))
			}
		}
		if *tbl == nil {
			*tbl = make(map[string][]entry)
		}
		(*tbl)[b.ResourceName] = append((*tbl)[b.ResourceName], e)
	}
	for i := range s.prefixLens {
		slices.Sort(s.prefixLens[i])
	}
	return s
}

// NewAuthorizer loads the bindings of cfg.Path (none if it does not exist
// yet) and returns an Authorizer over them.
func NewAuthorizer(cfg Config) (*Authorizer, error) {
	a := &Authorizer{cfg: cfg, super: make(map[Principal]struct{})}
	for _, u := range cfg.SuperUsers {
		p, err := ParsePrincipal(u)
		if err != nil {
			return nil, fmt.Errorf("auth: super.users: %w", err)
		}
		a.super[p] = struct{}{}
	}
	var bindings []Binding
	if cfg.Path != "" {
		var err error
		bindings, err = readACLFile(cfg.Path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	a.snap.Store(newSnapshot(bindings))
	return a, nil
}

// IsSuperUser reports whether p is one of super.users.
func (a *Authorizer) IsSuperUser(p Principal) bool {
	_, ok := a.super[p]
	return ok
}

// verdict collects what the bindings of one resource say.
type verdict struct {
	found, allowed, denied bool
}

// check applies the entries of one resource pattern to a request by p from
// host for op, as Kafka's StandardAuthorizerData.findResult: an entry
// counts if its principal is p or User:*, and its host host or *; a DENY
// counts for its own operation or All; an ALLOW for its own operation,
// All, and the operations it implies (Describe by Read, Write, Delete and
// Alter; DescribeConfigs by AlterConfigs).
func (v *verdict) check(entries []entry, p Principal, host string, op Operation) {
	for i := range entries {
		e := &entries[i]
		v.found = true
		if e.principal != p && e.principal != WildcardPrincipal {
			continue
		}
		if e.host != Wildcard && e.host != host {
			continue
		}
		if e.permission == PermissionDeny {
			if e.op == OpAll || e.op == op {
				v.denied = true
				return
			}
			continue
		}
		if e.op == OpAll || e.op == op || implies(e.op, op) {
			v.allowed = true
		}
	}
}

// implies reports whether an ALLOW for have also allows want.
func implies(have, want Operation) bool {
	switch want {
	case OpDescribe:
		return have == OpRead || have == OpWrite || have == OpDelete || have == OpAlter
	case OpDescribeConfigs:
		return have == OpAlterConfigs
	}
	return false
}

// Authorize decides whether principal p, connected from host (an IP
// address in netip's form), may do op on the resource of type rt named
// name. Super users may do everything; a DENY that matches wins over any
// ALLOW; with no binding on the resource at all (whoever it names),
// allow.everyone.if.no.acl.found decides. The literal name, the literal
// "*" and every PREFIXED pattern that is a prefix of name are the
// resource's bindings.
func (a *Authorizer) Authorize(p Principal, host string, op Operation, rt ResourceType, name string) bool {
	if len(a.super) > 0 {
		if _, ok := a.super[p]; ok {
			return true
		}
	}
	if rt < 0 || rt >= numResourceTypes {
		return false
	}
	s := a.snap.Load()
	var v verdict
	if lit := s.literal[rt]; lit != nil {
		v.check(lit[name], p, host, op)
		if !v.denied && name != Wildcard {
			v.check(lit[Wildcard], p, host, op)
		}
	}
	if pre := s.prefixed[rt]; pre != nil && !v.denied {
		for _, n := range s.prefixLens[rt] {
			if n > len(name) || v.denied {
				break
			}
			v.check(pre[name[:n]], p, host, op)
		}
	}
	switch {
	case v.denied:
		return false
	case v.allowed:
		return true
	case !v.found:
		return a.cfg.AllowEveryoneIfNoACLFound
	}
	return false
}

// AuthorizeAny decides whether p from host may do op on some resource of
// type rt (Kafka's Authorizer.authorizeByResourceType, KIP-679, used by
// InitProducerId: Write on any topic). As in Kafka, a super user (or a
// resource without ACLs under allow.everyone.if.no.acl.found) is first
// checked against one made-up name; then an ALLOW of p for op (or All)
// counts unless a DENY covers it: a literal "*" DENY denies everything,
// a literal DENY the same literal name, a PREFIXED DENY every name it
// prefixes.
func (a *Authorizer) AuthorizeAny(p Principal, host string, op Operation, rt ResourceType) bool {
	if a.Authorize(p, host, op, rt, "hardcode") {
		return true
	}
	s := a.snap.Load()
	matches := func(b *Binding) bool {
		if b.ResourceType != rt || (b.Host != Wildcard && b.Host != host) {
			return false
		}
		if b.Principal != p.String() && b.Principal != WildcardPrincipal.String() {
			return false
		}
		return b.Operation == op || b.Operation == OpAll
	}
	denyLiteral := map[string]bool{}
	var denyPrefixes []string
	for i := range s.bindings {
		b := &s.bindings[i]
		if b.Permission != PermissionDeny || !matches(b) {
			continue
		}
		if b.PatternType == PatternLiteral {
			if b.ResourceName == Wildcard {
				return false
			}
			denyLiteral[b.ResourceName] = true
		} else {
			denyPrefixes = append(denyPrefixes, b.ResourceName)
		}
	}
	for i := range s.bindings {
		b := &s.bindings[i]
		if b.Permission != PermissionAllow || !matches(b) {
			continue
		}
		if b.PatternType == PatternLiteral {
			if b.ResourceName == Wildcard {
				return true
			}
			if denyLiteral[b.ResourceName] {
				continue
			}
		}
		dominated := false
		for _, d := range denyPrefixes {
			if strings.HasPrefix(b.ResourceName, d) {
				dominated = true
				break
			}
		}
		if !dominated {
			return true
		}
	}
	return false
}

// ACLs returns the bindings a filter selects, in stored order.
func (a *Authorizer) ACLs(f Filter) []Binding {
	var out []Binding
	for _, b := range a.snap.Load().bindings {
		if f.Matches(b) {
			out = append(out, b)
		}
	}
	return out
}

// CreateResult is the outcome of one binding of a Create.
type CreateResult struct {
	Err error // nil, an ErrInvalidACL, or the error writing the ACL file
}

// Create adds bindings; a binding already present is not added twice,
// and counts as created (as Kafka answers). Invalid bindings get their
// own error and the rest are still added. The file is written before the
// new bindings take effect; if that fails, none of them take effect and
// every valid one gets the error.
func (a *Authorizer) Create(bindings []Binding) []error {
	errs := make([]error, len(bindings))
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.snap.Load().bindings
	next := slices.Clone(cur)
	have := make(map[Binding]struct{}, len(cur)+len(bindings))
	for _, b := range cur {
		have[b] = struct{}{}
	}
	var valid []int
	for i, b := range bindings {
		nb, err := b.Validate()
		if err != nil {
			errs[i] = err
			continue
		}
		valid = append(valid, i)
		if _, dup := have[nb]; !dup {
			have[nb] = struct{}{}
			next = append(next, nb)
		}
	}
	if a.backend != nil {
		// The backend decides what is already stored (another broker may
		// have created or deleted a binding since this one's snapshot).
		nbs := make([]Binding, 0, len(valid))
		for _, i := range valid {
			nb, _ := bindings[i].Validate()
			nbs = append(nbs, nb)
		}
		if len(nbs) == 0 {
			return errs
		}
		err := a.backend.CreateACLs(nbs)
		a.refreshLocked()
		if err != nil {
			for _, i := range valid {
				errs[i] = err
			}
		}
		return errs
	}
	if len(next) == len(cur) {
		return errs
	}
	sortBindings(next)
	if err := a.publish(next); err != nil {
		for _, i := range valid {
			errs[i] = err
		}
	}
	return errs
}

// Delete removes the bindings each filter selects and returns them, per
// filter (a binding selected by several filters is listed under each).
// Filters are validated by the caller. Nothing is removed if the file
// cannot be written.
func (a *Authorizer) Delete(filters []Filter) ([][]Binding, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.backend != nil {
		return a.deleteFromBackend(filters)
	}
	cur := a.snap.Load().bindings
	out := make([][]Binding, len(filters))
	gone := make([]bool, len(cur))
	n := 0
	for i, f := range filters {
		for j, b := range cur {
			if f.Matches(b) {
				out[i] = append(out[i], b)
				if !gone[j] {
					gone[j] = true
					n++
				}
			}
		}
	}
	if n == 0 {
		return out, nil
	}
	next := make([]Binding, 0, len(cur)-n)
	for j, b := range cur {
		if !gone[j] {
			next = append(next, b)
		}
	}
	if err := a.publish(next); err != nil {
		return nil, err
	}
	return out, nil
}

// deleteFromBackend is Delete with a backend, which selects against the
// stored bindings; what it removed is listed under every filter that
// selects it. Called with mu held.
func (a *Authorizer) deleteFromBackend(filters []Filter) ([][]Binding, error) {
	out := make([][]Binding, len(filters))
	if len(filters) == 0 {
		return out, nil
	}
	removed, err := a.backend.DeleteACLs(func(b Binding) bool {
		for _, f := range filters {
			if f.Matches(b) {
				return true
			}
		}
		return false
	})
	a.refreshLocked()
	if err != nil {
		return nil, err
	}
	sortBindings(removed)
	for i, f := range filters {
		for _, b := range removed {
			if f.Matches(b) {
				out[i] = append(out[i], b)
			}
		}
	}
	return out, nil
}

// UseBackend makes b the store of the bindings from now on, in place of
// the file, and publishes b's bindings. Safe while connections are
// authorized: each sees either the old or the new bindings.
func (a *Authorizer) UseBackend(b ACLBackend) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.backend = b
	bs, v := b.ACLs()
	a.publishBackend(bs, v)
}

// Refresh rebuilds the lookup index from the backend if its bindings
// changed since the index was built; without a backend, or with no
// change, it does nothing. The owner of a backend calls it when the
// backend reports a change (a watch), never per request.
func (a *Authorizer) Refresh() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refreshLocked()
}

func (a *Authorizer) refreshLocked() {
	if a.backend == nil || a.backend.ACLVersion() == a.snap.Load().version {
		return
	}
	bs, v := a.backend.ACLs()
	a.publishBackend(bs, v)
}

func (a *Authorizer) publishBackend(bs []Binding, version int64) {
	bs = slices.Clone(bs)
	sortBindings(bs)
	s := newSnapshot(bs)
	s.version = version
	a.snap.Store(s)
}

// publish makes bindings durable, then current. Called with mu held.
func (a *Authorizer) publish(bindings []Binding) error {
	if a.cfg.Path != "" {
		if err := writeACLFile(a.cfg.Path, bindings); err != nil {
			return err
		}
	}
	a.snap.Store(newSnapshot(bindings))
	return nil
}

// sortBindings orders bindings by resource, then principal, host,
// operation and permission: a stable order for the file and for listing.
func sortBindings(bs []Binding) {
	slices.SortFunc(bs, func(x, y Binding) int {
		if c := int(x.ResourceType) - int(y.ResourceType); c != 0 {
			return c
		}
		if c := strings.Compare(x.ResourceName, y.ResourceName); c != 0 {
			return c
		}
		if c := int(x.PatternType) - int(y.PatternType); c != 0 {
			return c
		}
		if c := strings.Compare(x.Principal, y.Principal); c != 0 {
			return c
		}
		if c := strings.Compare(x.Host, y.Host); c != 0 {
			return c
		}
		if c := int(x.Operation) - int(y.Operation); c != 0 {
			return c
		}
		return int(x.Permission) - int(y.Permission)
	})
}
