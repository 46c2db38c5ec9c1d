package lakehouse

import (
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/glintstream/glint/row"
)

// batcher turns rows into Arrow record batches of the layout's schema.
//
// It writes straight into Arrow buffers it allocates from the sink's allocator and keeps
// across batches, so a steady stream of rows allocates nothing: array builders would hand
// their buffers to each batch and allocate (and zero) new ones for the next.
//
// Ownership: the batcher holds one reference to each buffer until release. The batch flush
// returns references the same buffers, so it is valid only until the next append: the caller
// must Release it before appending again (the sink writes it out and releases it at once).
// Batches start at minBatchRows rows and double, up to the configured capacity, while a
// partition keeps filling them, so rarely written partitions hold little memory.
type batcher struct {
	mem    memory.Allocator
	schema *arrow.Schema
	cols   []column
	cap    int // current batch capacity, rows
	maxCap int
	n      int
	grown  bool // cap grew: the buffers must grow before the next batch
}

const (
	minBatchRows = 1024
	// maxBatchData bounds one string column's bytes in a batch (int32 offsets).
	maxBatchData = 256 << 20
)

type column struct {
	typ   row.Type
	dtype arrow.DataType
	valid *memory.Buffer // validity bitmap, used once the batch has a null
	vals  *memory.Buffer // int64 values, bool bitmap, or int32 string offsets
	data  *memory.Buffer // string bytes
	nulls int
	dlen  int
	// views of the buffers, refreshed when they grow
	i64   []int64
	f64   []float64
	offs  []int32
	vbits []byte
	bbits []byte
	dbuf  []byte
}

func newBatcher(mem memory.Allocator, l *layout, capacity int) *batcher {
	b := &batcher{mem: mem, schema: l.arrow, cols: make([]column, len(l.schema.Fields)), maxCap: capacity, cap: min(capacity, minBatchRows)}
	for i, f := range l.schema.Fields {
		b.cols[i] = column{typ: f.Type, dtype: l.arrow.Field(i).Type}
	}
	return b
}

// grow makes room for b.cap rows in every column.
func (b *batcher) grow() {
	for i := range b.cols {
		c := &b.cols[i]
		if c.vals == nil {
			c.valid = memory.NewResizableBuffer(b.mem)
			c.vals = memory.NewResizableBuffer(b.mem)
			if c.typ == row.TypeString {
				c.data = memory.NewResizableBuffer(b.mem)
				c.data.Reserve(b.cap * 16)
				c.dbuf = c.data.Buf()
			}
		}
		c.valid.Reserve(int(bitutil.BytesForBits(int64(b.cap))))
		c.vbits = c.valid.Buf()
		switch c.typ {
		case row.TypeString:
			c.vals.Reserve((b.cap + 1) * 4)
			c.offs = unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(c.vals.Buf()))), b.cap+1)
		case row.TypeBool:
			c.vals.Reserve(int(bitutil.BytesForBits(int64(b.cap))))
			c.bbits = c.vals.Buf()
		default:
			c.vals.Reserve(b.cap * 8)
			p := unsafe.Pointer(unsafe.SliceData(c.vals.Buf()))
			c.i64 = unsafe.Slice((*int64)(p), b.cap)
			c.f64 = unsafe.Slice((*float64)(p), b.cap)
		}
	}
}

// append adds one row; the row must have one value per column (checked by the caller).
func (b *batcher) append(r row.Row) {
	if b.n == 0 {
		b.start()
	}
	n := b.n
	for i := range b.cols {
		c := &b.cols[i]
		v := &r[i]
		if v.Null {
			c.setNull(n)
			if c.typ == row.TypeString {
				c.offs[n+1] = int32(c.dlen)
			}
			continue
		}
		if c.nulls > 0 {
			bitutil.SetBit(c.vbits, n)
		}
		switch c.typ {
		case row.TypeString:
			if c.dlen+len(v.S) > len(c.dbuf) {
				c.data.Reserve(max(2*len(c.dbuf), c.dlen+len(v.S)))
				c.dbuf = c.data.Buf()
			}
			c.dlen += copy(c.dbuf[c.dlen:], v.S)
			c.offs[n+1] = int32(c.dlen)
		case row.TypeInt:
			c.i64[n] = v.I
		case row.TypeTimestamp:
			c.i64[n] = v.I * 1000 // ms → µs
		case row.TypeFloat:
			c.f64[n] = v.F
		case row.TypeBool:
			bitutil.SetBitTo(c.bbits, n, v.I != 0)
		}
	}
	b.n++
}

// start begins a batch: reset lengths, grow the capacity if the last batch filled up.
func (b *batcher) start() {
	if b.cols[0].vals == nil || b.grown {
		b.grow() // only here: the previous batch, which shares the buffers, is released by now
		b.grown = false
	}
	for i := range b.cols {
		c := &b.cols[i]
		c.nulls, c.dlen = 0, 0
		if c.typ == row.TypeString {
			c.offs[0] = 0
		}
	}
}

// setNull marks row n null, materialising the validity bitmap on the batch's first null.
func (c *column) setNull(n int) {
	if c.nulls == 0 {
		full := n / 8
		for j := 0; j < full; j++ {
			c.vbits[j] = 0xff
		}
		if n%8 != 0 {
			c.vbits[full] = byte(1<<(n%8)) - 1
		}
	}
	bitutil.ClearBit(c.vbits, n)
	c.nulls++
}

// full reports whether the batch should be flushed before the next row.
func (b *batcher) full() bool {
	if b.n >= b.cap {
		return true
	}
	for i := range b.cols {
		if b.cols[i].dlen > maxBatchData {
			return true
		}
	}
	return false
}

// flush returns the rows appended so far as a record batch (nil if none). The batch shares
// the batcher's buffers: Release it before the next append.
func (b *batcher) flush() arrow.RecordBatch {
	n := b.n
	if n == 0 {
		return nil
	}
	arrs := make([]arrow.Array, len(b.cols))
	for i := range b.cols {
		c := &b.cols[i]
		var valid *memory.Buffer
		if c.nulls > 0 {
			c.valid.ResizeNoShrink(int(bitutil.BytesForBits(int64(n))))
			valid = c.valid
		}
		bufs := []*memory.Buffer{valid, c.vals}
		switch c.typ {
		case row.TypeString:
			c.vals.ResizeNoShrink((n + 1) * 4)
			c.data.ResizeNoShrink(c.dlen)
			bufs = append(bufs, c.data)
		case row.TypeBool:
			c.vals.ResizeNoShrink(int(bitutil.BytesForBits(int64(n))))
		default:
			c.vals.ResizeNoShrink(n * 8)
		}
		d := array.NewData(c.dtype, n, bufs, nil, c.nulls, 0)
		arrs[i] = array.MakeFromData(d)
		d.Release()
	}
	rec := array.NewRecordBatch(b.schema, arrs, int64(n))
	for _, a := range arrs {
		a.Release()
	}
	if n >= b.cap && b.cap < b.maxCap { // a busy partition: bigger batches from now on
		b.cap = min(b.maxCap, 2*b.cap)
		b.grown = true
	}
	b.n = 0
	return rec
}

func (b *batcher) release() {
	for i := range b.cols {
		c := &b.cols[i]
		for _, buf := range []*memory.Buffer{c.valid, c.vals, c.data} {
			if buf != nil {
				buf.Release()
			}
		}
		*c = column{typ: c.typ, dtype: c.dtype}
	}
}
