package lakehouse

import (
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
)

// fileWriter writes record batches of one layout into one data file.
//
// The file is created exclusively; close finishes it (footer), fsyncs and closes it, and
// returns its size. abort closes and removes it. A fileWriter does not retain the batches
// it is given: the caller releases them after write returns.
type fileWriter interface {
	write(rec arrow.RecordBatch) error
	size() int64 // estimate of the finished size so far
	close() (int64, error)
	abort()
}

var parquetCodecs = map[string]compress.Codec{
	"zstd":   &parquet.Zstd,
	"snappy": &parquet.Snappy,
	"gzip":   &parquet.Gzip,
	"lz4":    &parquet.Lz4Raw,
	"none":   &parquet.Uncompressed,
}

var codecNames = []string{"zstd", "snappy", "gzip", "lz4", "none"}

// Row groups are cut at whichever comes first. 64 MiB keeps a writer's buffered pages (held in
// memory until the group is flushed) bounded while giving readers large sequential reads.
const (
	rowGroupRows  = 1 << 20
	rowGroupBytes = 64 << 20
	// columnChunk is how many values go to a column writer at once: pages are cut between
	// writes, so this bounds the page size overshoot.
	columnChunk = 4096
	// dictionaryMaxBytes: a column whose dictionary outgrows this falls back to plain pages.
	dictionaryMaxBytes = 1 << 20
)

func createExclusive(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
}

// countingWriter counts bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// parquetWriter writes Arrow batches through parquet-go's column writers: each Arrow column
// becomes optional Parquet values with definition levels, with no per-row boxing.
type parquetWriter struct {
	f       *os.File
	out     *countingWriter
	w       *parquet.Writer
	cols    []*parquet.ColumnWriter
	vals    []parquet.Value
	rgRows  int64
	rgStart int64
}

func newParquetWriter(path string, l *layout, codec compress.Codec) (*parquetWriter, error) {
	f, err := createExclusive(path)
	if err != nil {
		return nil, err
	}
	out := &countingWriter{w: f}
	w := parquet.NewWriter(out, l.parquet,
		parquet.Compression(codec),
		parquet.DictionaryMaxBytes(dictionaryMaxBytes),
		parquet.WriteBufferSize(256<<10),
		parquet.CreatedBy("glint", "dev", ""),
	)
	return &parquetWriter{f: f, out: out, w: w, cols: w.ColumnWriters(), vals: make([]parquet.Value, columnChunk)}, nil
}

func (p *parquetWriter) write(rec arrow.RecordBatch) error {
	n := int(rec.NumRows())
	for c := range p.cols {
		col := rec.Column(c)
		for off := 0; off < n; off += columnChunk {
			end := min(off+columnChunk, n)
			vals := p.fill(p.vals[:end-off], col, c, off)
			if _, err := p.cols[c].WriteRowValues(vals); err != nil {
				return fmt.Errorf("lakehouse: parquet column %d: %w", c, err)
			}
		}
	}
	p.rgRows += int64(n)
	if p.rgRows >= rowGroupRows || p.w.Size()-p.rgStart >= rowGroupBytes {
		if err := p.w.Flush(); err != nil {
			return err
		}
		p.rgRows, p.rgStart = 0, p.w.Size()
	}
	return nil
}

// fill converts rows [off, off+len(dst)) of an Arrow column into Parquet values of column c.
// Byte arrays alias the Arrow buffers; parquet-go copies them into its pages. (The in-place
// level setters inline; Value.Level does not, and costs a tenth of the sink's time.)
func (p *parquetWriter) fill(dst []parquet.Value, col arrow.Array, c, off int) []parquet.Value {
	nulls := col.NullN() > 0
	null := parquet.NullValue().Level(0, 0, c)
	switch a := col.(type) {
	case *array.String:
		offs, data := a.ValueOffsets(), a.ValueBytes()
		for i := range dst {
			if j := off + i; nulls && a.IsNull(j) {
				dst[i] = null
			} else {
				dst[i] = parquet.ByteArrayValue(data[offs[j]:offs[j+1]:offs[j+1]])
				dst[i].SetDefinitionLevel(1)
				dst[i].SetColumnIndex(c)
			}
		}
	case *array.Int64:
		vs := a.Int64Values()
		for i := range dst {
			if j := off + i; nulls && a.IsNull(j) {
				dst[i] = null
			} else {
				dst[i] = parquet.Int64Value(vs[j])
				dst[i].SetDefinitionLevel(1)
				dst[i].SetColumnIndex(c)
			}
		}
	case *array.Timestamp:
		vs := a.TimestampValues()
		for i := range dst {
			if j := off + i; nulls && a.IsNull(j) {
				dst[i] = null
			} else {
				dst[i] = parquet.Int64Value(int64(vs[j]))
				dst[i].SetDefinitionLevel(1)
				dst[i].SetColumnIndex(c)
			}
		}
	case *array.Float64:
		vs := a.Float64Values()
		for i := range dst {
			if j := off + i; nulls && a.IsNull(j) {
				dst[i] = null
			} else {
				dst[i] = parquet.DoubleValue(vs[j])
				dst[i].SetDefinitionLevel(1)
				dst[i].SetColumnIndex(c)
			}
		}
	case *array.Boolean:
		for i := range dst {
			if j := off + i; nulls && a.IsNull(j) {
				dst[i] = null
			} else {
				dst[i] = parquet.BooleanValue(a.Value(j))
				dst[i].SetDefinitionLevel(1)
				dst[i].SetColumnIndex(c)
			}
		}
	default:
		panic(fmt.Sprintf("lakehouse: unexpected arrow array %T", col))
	}
	return dst
}

func (p *parquetWriter) size() int64 { return p.w.Size() }

func (p *parquetWriter) close() (int64, error) {
	if err := p.w.Close(); err != nil {
		p.abort()
		return 0, err
	}
	return syncClose(p.f, p.out.n)
}

func (p *parquetWriter) abort() {
	_ = p.f.Close()
	_ = os.Remove(p.f.Name())
}

// syncClose makes a finished file durable before it can be staged: fsync, then close.
func syncClose(f *os.File, n int64) (int64, error) {
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	return n, nil
}

// arrowWriter writes an Arrow IPC file (Feather v2), optionally with zstd or lz4 buffers.
type arrowWriter struct {
	f   *os.File
	out *countingWriter
	w   *ipc.FileWriter
}

func newArrowWriter(path string, l *layout, mem memory.Allocator, compression string) (*arrowWriter, error) {
	f, err := createExclusive(path)
	if err != nil {
		return nil, err
	}
	out := &countingWriter{w: f}
	opts := []ipc.Option{ipc.WithSchema(l.arrow), ipc.WithAllocator(mem)}
	switch compression {
	case "zstd":
		opts = append(opts, ipc.WithZstd())
	case "lz4":
		opts = append(opts, ipc.WithLZ4())
	}
	w, err := ipc.NewFileWriter(out, opts...)
	if err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, err
	}
	return &arrowWriter{f: f, out: out, w: w}, nil
}

func (a *arrowWriter) write(rec arrow.RecordBatch) error { return a.w.Write(rec) }

func (a *arrowWriter) size() int64 { return a.out.n }

func (a *arrowWriter) close() (int64, error) {
	if err := a.w.Close(); err != nil {
		a.abort()
		return 0, err
	}
	return syncClose(a.f, a.out.n)
}

func (a *arrowWriter) abort() {
	_ = a.w.Close()
	_ = a.f.Close()
	_ = os.Remove(a.f.Name())
}
