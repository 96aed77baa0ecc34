//go:build !linux

package clustertest

import "syscall"

// childProcAttr: without Linux's parent-death signal, t.Cleanup alone
// stops the brokers.
func childProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// processState is unknown (0) without /proc: Stop and Cont do not wait.
func processState(int) byte { return 0 }
