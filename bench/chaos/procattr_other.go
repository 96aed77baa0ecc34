//go:build !linux

package chaos

import "syscall"

// childProcAttr: without Pdeathsig, children rely on their stdin closing
// (consumers) or on the harness's cleanup (the broker).
func childProcAttr() *syscall.SysProcAttr { return nil }
