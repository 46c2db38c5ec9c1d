// Package operators holds Glint's event-time core: per-input watermarks and keyed tumbling,
// sliding and session windows with aggregates, allowed lateness, revisions and a late side
// output.
//
// Everything here is a pure, deterministic state machine. Nothing reads a clock (processing
// time comes in as an argument from the driver's injected clock), does IO or starts goroutines;
// the same sequence of calls gives the same output, byte for byte. The task driver owns the
// operators and calls them from its one goroutine; nothing here is safe for concurrent use.
//
// The driver's loop, per record in arrival order:
//
//	win.OnRecord(&rec, wms.Current(), &out)   // the watermark BEFORE this record decides lateness
//	if wm, ok := wms.Observe(rec.Input, rec.Time, now); ok {
//		win.OnWatermark(wm, &out)             // fire windows with end <= wm, purge expired state
//	}
//
// plus Watermarks.Tick(now) on a timer (idle inputs) and Watermarks.End(i) when a bounded input
// is exhausted (its watermark becomes +inf, so a replay fires every window). Rows and late
// records accumulate in an Output until the driver has handed them on and calls Reset.
//
// Windows are half-open, [start, end), in event-time milliseconds. A window fires (one row,
// revision 0) when the watermark reaches its end; an event for a fired window that is still
// within allowed lateness updates it and emits the row again with the next revision; an event
// for a window whose end+allowed_lateness <= watermark goes to Output.Late with a reason that
// names the window. Nothing is dropped silently.
//
// State is snapshotted with AppendSnapshot (versioned, checksummed, deterministic bytes) and
// restored with Restore, which rejects truncated or corrupted input with ErrCorrupt.
//
// A checkpoint should not stop the task for the time it takes to encode a large window, so
// Window.Capture freezes the state in O(pages) on the owner's goroutine (the window's state
// pages are shared copy-on-write; see cow.go) and WindowCapture.AppendSnapshot encodes it
// on any goroutine while the owner goes on, giving the bytes AppendSnapshot would have given
// at the capture:
//
//	c := win.Capture()                       // owner's goroutine, at the barrier
//	wmSnap := wms.AppendSnapshot(nil)        // O(inputs): no capture needed
//	go func() { b := c.AppendSnapshot(nil); c.Release(); ... }()
//
// This is the one exception to "nothing here is safe for concurrent use": a WindowCapture
// may be read on any goroutine while its window is used on the owner's.
package operators
