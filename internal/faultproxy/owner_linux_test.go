package faultproxy

import (
	"net"
	"os"
	"os/exec"
	"testing"
)

// accepted dials a listener on host from this process and returns both
// ends.
func accepted(t *testing.T, host string) (dialled, acc net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Skipf("no listener on %s: %v", host, err)
	}
	defer ln.Close()
	dialled = dial(t, ln.Addr().String())
	acc, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { acc.Close() })
	return dialled, acc
}

func TestSocketOwnerFindsTheProcessHoldingTheDiallingEnd(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "127.0.0.3", "::1"} {
		t.Run(host, func(t *testing.T) {
			dialled, acc := accepted(t, host)
			self := os.Getpid()
			if got := SocketOwner(acc.RemoteAddr(), acc.LocalAddr(), []int{self}); got != self {
				t.Fatalf("owner %d, want this process %d", got, self)
			}

			// Hand the dialling end to a child and close it here: the
			// child owns it now, and this process no longer does.
			f, err := dialled.(*net.TCPConn).File()
			if err != nil {
				t.Fatal(err)
			}
			child := exec.Command("sleep", "30")
			child.ExtraFiles = []*os.File{f}
			if err := child.Start(); err != nil {
				t.Skipf("no sleep to start: %v", err)
			}
			t.Cleanup(func() {
				child.Process.Kill()
				child.Wait()
			})
			f.Close()
			dialled.Close()
			pids := []int{self, child.Process.Pid}
			if got := SocketOwner(acc.RemoteAddr(), acc.LocalAddr(), pids); got != child.Process.Pid {
				t.Errorf("owner %d after the hand-over, want the child %d", got, child.Process.Pid)
			}
			if got := SocketOwner(acc.RemoteAddr(), acc.LocalAddr(), []int{self}); got != 0 {
				t.Errorf("owner %d among this process alone after the hand-over, want none", got)
			}
			// With the ends swapped it is the accepting end, still here.
			if got := SocketOwner(acc.LocalAddr(), acc.RemoteAddr(), pids); got != self {
				t.Errorf("owner of the accepting end %d, want this process %d", got, self)
			}
			child.Process.Kill()
			child.Wait()
			if got := SocketOwner(acc.RemoteAddr(), acc.LocalAddr(), pids); got != 0 {
				t.Errorf("owner %d once every holder is gone, want none", got)
			}
		})
	}
}

func TestParseProcAddrRefusesMalformedEntries(t *testing.T) {
	for _, in := range []string{"", "0100007F", "0100007F:", "0100007F:XYZ", "0100007:1F90", "ZZ00007F:1F90", "0100007F:10000", "000000000000:0050"} {
		if ap, ok := parseProcAddr([]byte(in)); ok {
			t.Errorf("%q parsed as %v", in, ap)
		}
	}
}
