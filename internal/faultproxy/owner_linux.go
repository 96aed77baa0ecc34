package faultproxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"strconv"
)

// procNetTCP are the kernel's tables of this network namespace's TCP
// sockets, IPv4 and IPv6.
var procNetTCP = []string{"/proc/net/tcp", "/proc/net/tcp6"}

// SocketOwner names which of pids holds the dialling end of a TCP
// connection, seen from the accepting end: remote is the connection's
// remote address (the dialler's local one) and local its local address
// (the address the dialler connected to). It finds the socket's inode in
// the kernel's table (/proc/net/tcp) and the process whose open files
// include it (/proc/<pid>/fd), so it works only for processes of this
// machine that the caller may inspect (its children, say), on Linux. It
// returns 0 when none of pids holds it, or it is already closed.
//
// It is for connections whose source address tells nothing: an embedded
// etcd member on a loopback address dials its peers from the kernel's
// default source (127.0.0.1) whatever it is told, since etcd binds a
// member's local address only when it is not loopback.
func SocketOwner(remote, local net.Addr, pids []int) int {
	from, ok1 := addrPort(remote)
	to, ok2 := addrPort(local)
	if !ok1 || !ok2 || len(pids) == 0 {
		return 0
	}
	inode := socketInode(from, to)
	if inode == "" {
		return 0
	}
	want := []byte("socket:[" + inode + "]")
	for _, pid := range pids {
		if holds(pid, want) {
			return pid
		}
	}
	return 0
}

// addrPort is a's IP (unmapped) and port.
func addrPort(a net.Addr) (netip.AddrPort, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}, false
	}
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ap.IsValid()
}

// socketInode is the inode of the socket whose local address is from and
// remote address to, as the kernel's tables list it; "" when none does
// (or only a closed one, whose inode is 0).
func socketInode(from, to netip.AddrPort) string {
	for _, path := range procNetTCP {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // the header
		for sc.Scan() {
			// sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
			fields := bytes.Fields(sc.Bytes())
			if len(fields) < 10 {
				continue
			}
			l, ok1 := parseProcAddr(fields[1])
			r, ok2 := parseProcAddr(fields[2])
			if ok1 && ok2 && l == from && r == to && string(fields[9]) != "0" {
				f.Close()
				return string(fields[9])
			}
		}
		f.Close()
	}
	return ""
}

// parseProcAddr reads an address of /proc/net/tcp{,6}: the IP's bytes in
// hex, as 32-bit words each printed in the host's byte order, a colon and
// the port in hex.
func parseProcAddr(b []byte) (netip.AddrPort, bool) {
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(string(b[i+1:]), 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	words, err := hex.DecodeString(string(b[:i]))
	if err != nil || (len(words) != 4 && len(words) != 16) {
		return netip.AddrPort{}, false
	}
	// Each word was printed as a number: turn it back into the bytes it
	// holds in memory, which are the address in network order.
	ip := make([]byte, len(words))
	for w := 0; w < len(words); w += 4 {
		binary.NativeEndian.PutUint32(ip[w:], binary.BigEndian.Uint32(words[w:]))
	}
	addr, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), true
}

// holds reports whether process pid has link (socket:[inode]) open.
func holds(pid int, link []byte) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		target, err := os.Readlink(dir + e.Name())
		if err == nil && target == string(link) {
			return true
		}
	}
	return false
}
