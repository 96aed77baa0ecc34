//go:build unix

package cluster

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// connEnded reports whether c's peer has closed or reset it and that end
// waits in the socket, unread: a non-blocking peek (MSG_PEEK |
// MSG_DONTWAIT) that reads nothing. A watch connection carries no data,
// so a readable socket means its end. False when it cannot tell.
func connEnded(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	// Control, not Read: the watch goroutine's blocked Read holds the
	// descriptor's read lock, which RawConn.Read would wait for.
	ended := false
	var buf [1]byte
	err = raw.Control(func(fd uintptr) {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == nil:
			ended = n == 0 // 0 bytes: the peer's FIN; data would be a protocol surprise, not an end
		case errors.Is(rerr, syscall.EAGAIN), errors.Is(rerr, syscall.EWOULDBLOCK), errors.Is(rerr, syscall.EINTR):
		default:
			ended = true // ECONNRESET and the like
		}
	})
	return err == nil && ended
}
