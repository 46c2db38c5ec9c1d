//go:build !linux || race

package registry

// mapChunk allocates a chunk on the Go heap where memory is not mapped by hand: on platforms
// other than Linux, and under the race detector, which watches only the Go heap (the tests that
// check copy-on-write against a concurrent snapshot writer need it to see page memory).
func mapChunk(size int) []byte { return make([]byte, size) }

func unmapChunk([]byte) {}
