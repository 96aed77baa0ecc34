package clustertest

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// childProcAttr makes a broker die with SIGKILL when the test process
// dies (a panic, a timeout's os.Exit), so that no broker outlives it even
// when t.Cleanup never runs. Its own process group keeps a terminal's
// Ctrl-C from reaching it before the harness decides.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// processState returns the state letter of process pid from
// /proc/<pid>/stat ('T' once a SIGSTOP has taken effect), or 0 when it
// cannot be read.
func processState(pid int) byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// pid (comm) state ...: comm may hold spaces and parentheses, the
	// last ')' ends it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}
