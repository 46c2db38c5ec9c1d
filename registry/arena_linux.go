//go:build !race

package registry

import (
	"fmt"
	"syscall"
)

// mapChunk maps size bytes of zeroed memory outside the Go heap and advises it as
// transparent huge pages (honoured when THP is in "madvise" or "always" mode; Linux aligns
// large anonymous mappings to huge pages). Running out of address space is as fatal as
// running out of heap.
func mapChunk(size int) []byte {
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		panic(fmt.Sprintf("registry: mapping %d bytes for claims: %v", size, err))
	}
	_ = syscall.Madvise(b, syscall.MADV_HUGEPAGE) // only a hint
	return b
}

func unmapChunk(b []byte) {
	if err := syscall.Munmap(b); err != nil {
		panic(fmt.Sprintf("registry: unmapping claims: %v", err))
	}
}
