package faultproxy

import (
	"maps"
	"net"
	"slices"
	"strings"
)

// Classifier names the source of a connection from its addresses as the
// proxy accepted it: remote is the dialler's, local the proxy's. It is
// the node the connection comes from, say. It must be safe for concurrent
// use; a proxy calls it once per accepted connection, before it
// forwards anything.
type Classifier func(remote, local net.Addr) string

// ByHost is a Classifier that names a connection by the IP it comes
// from: hosts maps an IP (as net.IP.String writes it: "127.0.0.2") to a
// source name; any other IP is named other.
func ByHost(hosts map[string]string, other string) Classifier {
	hosts = maps.Clone(hosts) // the caller's later changes must not race the proxies
	return func(remote, _ net.Addr) string {
		var ip net.IP
		switch a := remote.(type) {
		case *net.TCPAddr:
			ip = a.IP
		default:
			host, _, err := net.SplitHostPort(remote.String())
			if err != nil {
				return other
			}
			ip = net.ParseIP(host)
		}
		if name, ok := hosts[ip.String()]; ok {
			return name
		}
		return other
	}
}

// Sources selects connections by their source: some names, or every
// source but some names. The zero value selects nothing.
type Sources struct {
	names  []string // sorted, without duplicates
	except bool     // every source but names
}

// AllSources selects every connection.
func AllSources() Sources { return Sources{except: true} }

// Only selects the connections from the sources named.
func Only(names ...string) Sources { return Sources{names: sorted(names)} }

// AllBut selects the connections from every source but those named.
func AllBut(names ...string) Sources { return Sources{names: sorted(names), except: true} }

// Has reports whether s selects the connections of source src.
func (s Sources) Has(src string) bool {
	_, found := slices.BinarySearch(s.names, src)
	return found != s.except
}

func (s Sources) String() string {
	switch {
	case s.except && len(s.names) == 0:
		return "all"
	case s.except:
		return "all but " + strings.Join(s.names, ",")
	}
	return strings.Join(s.names, ",")
}

// key tells two Sources apart: equal keys select the same sources.
func (s Sources) key() string {
	k := "only:"
	if s.except {
		k = "but:"
	}
	return k + strings.Join(s.names, "\x00")
}

func sorted(names []string) []string {
	s := slices.Clone(names)
	slices.Sort(s)
	return slices.Compact(s)
}
