package operators

import "unsafe"

// unsafeString returns a string that shares b's memory, as a driver's zero-copy decode does.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
