package cluster

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DefaultKeyRoot is the etcd key under which every cluster's metadata
// lives: /tributary/<cluster-id>/...
const DefaultKeyRoot = "/tributary"

// StoreURL is a parsed metadata.store setting: an external etcd cluster
// the brokers keep their metadata in instead of an embedded quorum.
//
// Syntax:
//
//	etcd://host:port[,host:port...][/root]     plaintext client traffic
//	etcds://host:port[,host:port...][/root]    TLS (trust and client certificate set apart)
//
// e.g. metadata.store=etcds://etcd-0:2379,etcd-1:2379,etcd-2:2379. The
// optional /root replaces DefaultKeyRoot, for an etcd shared with other
// tenants. Credentials never go in the URL (it is logged); they are
// separate settings.
type StoreURL struct {
	Endpoints []string // client URLs, http://host:port or https://host:port
	TLS       bool
	Root      string // key root, DefaultKeyRoot unless given
}

// ParseStoreURL parses a metadata.store setting; see StoreURL.
func ParseStoreURL(s string) (StoreURL, error) {
	bad := func(format string, a ...any) (StoreURL, error) {
		return StoreURL{}, fmt.Errorf("cluster: metadata.store %q: "+format, append([]any{s}, a...)...)
	}
	if strings.Contains(s, "@") {
		// Not echoed: it holds a secret.
		return StoreURL{}, errors.New("cluster: metadata.store: credentials do not belong in the URL; use the store's username and password settings")
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return bad("want etcd://host:port[,host:port...][/root] or etcds://...")
	}
	var u StoreURL
	switch scheme {
	case "etcd":
	case "etcds":
		u.TLS = true
	default:
		return bad("scheme %q: want etcd://host:port[,host:port...][/root] or etcds://...", scheme)
	}
	hosts, root, _ := strings.Cut(rest, "/")
	u.Root = DefaultKeyRoot
	if root != "" {
		root = "/" + strings.TrimSuffix(root, "/")
		if strings.Contains(root, "//") {
			return bad("key root %q has an empty path element", root)
		}
		u.Root = root
	}
	if hosts == "" {
		return bad("no host:port")
	}
	httpScheme := "http"
	if u.TLS {
		httpScheme = "https"
	}
	seen := map[string]bool{}
	for _, h := range strings.Split(hosts, ",") {
		host, port, err := dialHostPort(h)
		if err != nil {
			return bad("%v", err)
		}
		ep := net.JoinHostPort(host, strconv.Itoa(port))
		if seen[ep] {
			return bad("endpoint %s is named twice", ep)
		}
		seen[ep] = true
		u.Endpoints = append(u.Endpoints, httpScheme+"://"+ep)
	}
	return u, nil
}

// HostPorts returns the endpoints as host:port, without their scheme.
func (u StoreURL) HostPorts() []string {
	out := make([]string, len(u.Endpoints))
	for i, ep := range u.Endpoints {
		_, out[i], _ = strings.Cut(ep, "://")
	}
	return out
}

// String writes u back as a metadata.store setting.
func (u StoreURL) String() string {
	if len(u.Endpoints) == 0 {
		return ""
	}
	s := "etcd://"
	if u.TLS {
		s = "etcds://"
	}
	s += strings.Join(u.HostPorts(), ",")
	if u.Root != "" && u.Root != DefaultKeyRoot {
		s += u.Root
	}
	return s
}

// StoreConfig returns the EtcdStoreConfig that connects to u for the
// cluster clusterID; the caller adds TLS, credentials and timeouts.
func (u StoreURL) StoreConfig(clusterID string) EtcdStoreConfig {
	return EtcdStoreConfig{ClusterID: clusterID, Root: u.Root, Endpoints: u.Endpoints}
}
