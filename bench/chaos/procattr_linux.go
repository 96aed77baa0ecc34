package chaos

import "syscall"

// childProcAttr makes a child die with SIGKILL when the harness dies, so
// that a crashed or timed-out test leaves no broker or consumer behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
