package peers

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strings"
)

// Env describes the machine a run measured.
type Env struct {
	CPUs     int
	CPUModel string
	Kernel   string
	Go       string
	// Code is the code measured (a commit, say).
	Code string
	// LoadBefore and LoadAfter are /proc/loadavg's 1, 5 and 15 minute
	// load averages at the start and the end.
	LoadBefore, LoadAfter string
}

// MachineEnv is what this machine says about itself; Code and LoadAfter
// are the caller's to fill in.
func MachineEnv() Env {
	e := Env{CPUs: runtime.NumCPU(), Go: runtime.Version(), LoadBefore: LoadAverage()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				e.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.Kernel = "Linux " + string(bytes.TrimSpace(b))
	}
	return e
}

// LoadAverage is the 1, 5 and 15 minute load averages, or "" if unknown.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
