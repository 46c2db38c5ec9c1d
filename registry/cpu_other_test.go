//go:build !unix

package registry

import "time"

// processCPU is not measured on this platform; CPU metrics then read 0.
func processCPU() time.Duration { return 0 }
