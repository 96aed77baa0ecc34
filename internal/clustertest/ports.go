package clustertest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"

	"github.com/tributary-io/tributary/internal/testnet"
)

const (
	// minPort is the lowest port picked: above the well-known and most
	// registered service ports.
	minPort = 20000
	// portTries bounds the attempts to find a free set of ports on one
	// address.
	portTries = 200
)

// nodePorts are the ports one node listens on, all on its own address.
type nodePorts struct {
	kafka, metrics, controller int // controller+1 is etcd's client port
}

// pickPorts finds ports on host that nothing listens on now: the Kafka,
// metrics and controller ports, and the controller port + 1 (the embedded
// etcd's client port, derived). They are picked below the kernel's
// ephemeral range, which it never hands out by itself, so that no
// outgoing connection or :0 listener takes one while its broker is down
// between a kill and a restart.
func pickPorts(rng *rand.Rand, host string) (nodePorts, error) {
	hi := EphemeralPortLow()
	if hi <= minPort+100 {
		hi = 32768 // not Linux: the common default
	}
	reserved.Lock()
	defer reserved.Unlock()
	free := func(port int) bool {
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		if reserved.ports[addr] {
			return false
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		ln.Close()
		return true
	}
	reserve := func(ports ...int) {
		for _, p := range ports {
			reserved.ports[net.JoinHostPort(host, strconv.Itoa(p))] = true
		}
	}
	var got []int
	for range portTries {
		p := minPort + rng.IntN(hi-minPort-1)
		switch {
		case len(got) < 2:
			if free(p) && !contains(got, p) {
				got = append(got, p)
			}
		default:
			if free(p) && free(p+1) && !contains(got, p) && !contains(got, p+1) {
				reserve(got[0], got[1], p, p+1)
				return nodePorts{kafka: got[0], metrics: got[1], controller: p}, nil
			}
		}
	}
	return nodePorts{}, fmt.Errorf("clustertest: no free ports on %s after %d tries", host, portTries)
}

// reserved is every address pickPorts handed out in this process: the
// clusters of parallel tests share 127.0.0.2… and may draw the same ports
// from the same seed, and a port is free to bind while its broker is down
// between a kill and a restart. Addresses are never given back (there are
// thousands per host).
var reserved = struct {
	sync.Mutex
	ports map[string]bool
}{ports: make(map[string]bool)}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// EphemeralPortLow is the first port of the kernel's ephemeral range, or
// 0: harnesses pick their fixed ports below it, where no outgoing
// connection takes them meanwhile.
func EphemeralPortLow() int { return testnet.EphemeralPortLow() }

// errNoNode is returned for a node number outside the cluster.
var errNoNode = errors.New("clustertest: no such node")
