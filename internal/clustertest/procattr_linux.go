package clustertest

import "syscall"

// childProcAttr makes a broker die with SIGKILL when the test process
// dies (a panic, a timeout's os.Exit), so that no broker outlives it even
// when t.Cleanup never runs. Its own process group keeps a terminal's
// Ctrl-C from reaching it before the harness decides.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
