package cluster

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Voter is one member of the metadata quorum, as controller.quorum.voters
// names it: the node ID and the controller (etcd peer) address.
type Voter struct {
	NodeID int32
	Host   string
	Port   int
}

// Addr returns host:port, bracketing an IPv6 host.
func (v Voter) Addr() string { return net.JoinHostPort(v.Host, strconv.Itoa(v.Port)) }

// ParseVoters parses controller.quorum.voters in Kafka's syntax,
// "1@host:port,2@host:port,3@host:port" (spaces around entries allowed).
// Node IDs must be non-negative and distinct, and so must addresses; a
// host must be one the other nodes can dial (not empty, not 0.0.0.0 or
// ::). This is the one parser of the setting: the broker's settings
// (package server) read it through here.
func ParseVoters(s string) ([]Voter, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("cluster: controller.quorum.voters is empty, want id@host:port[,id@host:port...]")
	}
	var voters []Voter
	ids := map[int32]bool{}
	addrs := map[string]int32{}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		id, addr, ok := strings.Cut(entry, "@")
		if !ok {
			return nil, fmt.Errorf("cluster: controller.quorum.voters entry %q: want id@host:port", entry)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("cluster: controller.quorum.voters entry %q: the id %q is not a node id (an integer >= 0)", entry, id)
		}
		host, port, err := dialHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("cluster: controller.quorum.voters entry %q: %w", entry, err)
		}
		v := Voter{NodeID: int32(n), Host: host, Port: port}
		if ids[v.NodeID] {
			return nil, fmt.Errorf("cluster: controller.quorum.voters: node id %d is named twice", v.NodeID)
		}
		if other, dup := addrs[v.Addr()]; dup {
			return nil, fmt.Errorf("cluster: controller.quorum.voters: voters %d and %d both have the address %s", other, v.NodeID, v.Addr())
		}
		ids[v.NodeID], addrs[v.Addr()] = true, v.NodeID
		voters = append(voters, v)
	}
	return voters, nil
}

// splitHostPort splits host:port and checks both parts: a host is
// required (a voter's address is dialled by the others, so an empty or
// wildcard host cannot name it) and the port is 1-65535.
func splitHostPort(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: want host:port", addr)
	}
	if host == "" {
		return "", 0, fmt.Errorf("address %q: host is empty", addr)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("address %q: bad port %q: want 1-65535", addr, portStr)
	}
	return host, port, nil
}

// dialHostPort is splitHostPort of an address other nodes dial: its host
// is neither empty nor unspecified (0.0.0.0, ::).
func dialHostPort(addr string) (string, int, error) {
	if h, _, err := net.SplitHostPort(strings.TrimSpace(addr)); err == nil {
		if ip, perr := netip.ParseAddr(h); h == "" || (perr == nil && ip.IsUnspecified()) {
			return "", 0, fmt.Errorf("address %q: others dial it, so its host cannot be empty or unspecified", addr)
		}
	}
	return splitHostPort(strings.TrimSpace(addr))
}
