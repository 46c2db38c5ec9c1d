package operators

import "github.com/glintstream/glint/row"

// Record is one input event.
//
// Row's strings may alias the driver's fetch buffers: they are valid only during the call the
// record is passed to. Operators clone what they keep.
type Record struct {
	Time  int64   // event time, ms since the Unix epoch
	Row   row.Row // values in the operator's input schema
	Input int     // the task's input index (partition) the record came from
	Ref   int     // opaque to operators: the driver's handle for provenance, echoed in Late
}

// Late is a record that missed one or more windows: their end+allowed_lateness was already at
// or below the watermark when the record arrived. Reason names the window(s) and the watermark.
type Late struct {
	Ref    int
	Reason string
}

// Output collects what operators emit. Operators only append. Rows are allocated by the
// operator for each emission and are never touched again by it: they belong to whoever holds
// them. The Rows and Late slices themselves are reused after Reset: copy them to keep them.
type Output struct {
	Rows []row.Row
	Late []Late
}

// Reset empties o for the next batch, keeping capacity and dropping references to the rows.
func (o *Output) Reset() {
	clear(o.Rows)
	o.Rows = o.Rows[:0]
	clear(o.Late)
	o.Late = o.Late[:0]
}
