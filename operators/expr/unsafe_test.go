package expr

import "unsafe"

// unsafeString aliases b, as a zero-copy decoder does.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
