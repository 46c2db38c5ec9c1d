package operators

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/glintstream/glint/operators/agg"
)

// Snapshot framing, shared by every operator here:
//
//	magic (2 bytes) | version (1 byte) | body | CRC-32C of everything before it (4 bytes, LE)
//
// Bodies are varints and length-prefixed strings. Encoding is deterministic: maps are written
// in sorted key order, so equal states give equal bytes (HyperLogLog sketches excepted, whose
// own encoding is not canonical).
const snapshotVersion = 1

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func beginSnapshot(dst []byte, magic string) ([]byte, int) {
	return append(append(dst, magic...), snapshotVersion), len(dst)
}

func endSnapshot(dst []byte, start int) []byte {
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], crcTable))
}

// openSnapshot checks magic, version and checksum and returns the body.
func openSnapshot(b []byte, magic string) ([]byte, error) {
	if len(b) < len(magic)+1+4 {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrCorrupt, len(b))
	}
	if string(b[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: bad magic %q, want %q", ErrCorrupt, b[:len(magic)], magic)
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if got := crc32.Checksum(body, crcTable); got != sum {
		return nil, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorrupt, got, sum)
	}
	if v := b[len(magic)]; v != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d (this build reads %d)", ErrSnapshotVersion, v, snapshotVersion)
	}
	return body[len(magic)+1:], nil
}

func appendVarint(dst []byte, v int64) []byte   { return binary.AppendVarint(dst, v) }
func appendUvarint(dst []byte, v uint64) []byte { return binary.AppendUvarint(dst, v) }
func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}
func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// decoder reads a snapshot body. The first error sticks: later reads return zero values, so
// decoding code checks d.err once at the end of a section.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 || (n > 1 && d.b[n-1] == 0) {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 || (n > 1 && d.b[n-1] == 0) { // overlong encodings are refused: one state, one encoding
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length that announces at least minBytes bytes per item still to come, so a
// corrupt count cannot make the decoder allocate more than the input could describe.
func (d *decoder) count(what string, minBytes int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/max(minBytes, 1)) {
		d.fail("%s count %d exceeds the %d bytes left", what, n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bool() bool {
	switch c := d.byte(); c {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("bad bool %d", c)
		return false
	}
}

func (d *decoder) bytes() []byte {
	n := d.count("byte", 1)
	if d.err != nil {
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

// accumulator reads one aggregate state written by agg.AppendAccumulator for f.
func (d *decoder) accumulator(f agg.Func, acc *agg.Accumulator) {
	if d.err != nil {
		return
	}
	rest, err := agg.ReadAccumulator(d.b, f, acc)
	if err != nil {
		if errors.Is(err, agg.ErrIncompatible) {
			d.err = fmt.Errorf("%w: %w", ErrSnapshotMismatch, err)
		} else {
			d.err = fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return
	}
	d.b = rest
}
