//go:build !unix

package recordbatch_test

import "time"

// processCPU is not measured here: the cpu-s/GB metrics read 0.
func processCPU() time.Duration { return 0 }
