//go:build unix

package registry

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) the process has used so far: benchmarks report
// CPU per id besides wall-clock rates, which depend on what else the shared machine runs.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
