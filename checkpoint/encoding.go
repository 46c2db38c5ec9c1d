package checkpoint

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"slices"
	"time"
)

// Manifest encoding, version 1:
//
//	magic    "GLCK"                      4 bytes
//	version  1                           1 byte
//	body                                 see below
//	crc      CRC-32C of version and body 4 bytes, little endian
//
// The body is a fixed sequence of fields: job (string), task (varint), id (uvarint), created
// (varint Unix ns, 0 for none), watermark (varint), inputs (uvarint count, then topic string,
// partition varint, offset varint each), state key (string), state size (varint), state CRC
// (4 bytes LE), sinks (uvarint count, then name string, data bytes each), meta (uvarint count,
// then key and value strings, keys strictly ascending). Strings and bytes are a uvarint length
// and the bytes. Varints must be minimal.
//
// The encoding is canonical (one manifest has exactly one encoding), which the fuzz test
// uses: whatever Decode accepts re-encodes to the same bytes. The object's length delimits
// the manifest; since the body is a prefix-free sequence of fields that must end exactly where
// the CRC starts, a truncated or extended manifest never decodes, and the CRC catches every
// burst of up to 32 flipped bits.
const (
	manifestMagic   = "GLCK"
	manifestVersion = 1
	// maxManifestSize bounds what Decode accepts and what the store reads of a manifest
	// object, so a garbage object cannot make it allocate without limit.
	maxManifestSize = 64 << 20
	headerLen       = len(manifestMagic) + 1
	trailerLen      = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encode returns the binary encoding of m. It does not validate m; Save does.
func (m *Manifest) Encode() []byte {
	n := headerLen + trailerLen + 64 + len(m.Job) + len(m.StateKey)
	for _, in := range m.Inputs {
		n += len(in.Topic) + 2*binary.MaxVarintLen64
	}
	for _, s := range m.Sinks {
		n += len(s.Name) + len(s.Data) + 2*binary.MaxVarintLen64
	}
	for k, v := range m.Meta {
		n += len(k) + len(v) + 2*binary.MaxVarintLen64
	}
	b := make([]byte, 0, n)
	b = append(b, manifestMagic...)
	b = append(b, manifestVersion)
	b = appendString(b, m.Job)
	b = binary.AppendVarint(b, int64(m.Task))
	b = binary.AppendUvarint(b, m.ID)
	b = binary.AppendVarint(b, unixNano(m.Created))
	b = binary.AppendVarint(b, m.Watermark)
	b = binary.AppendUvarint(b, uint64(len(m.Inputs)))
	for _, in := range m.Inputs {
		b = appendString(b, in.Topic)
		b = binary.AppendVarint(b, int64(in.Partition))
		b = binary.AppendVarint(b, in.Offset)
	}
	b = appendString(b, m.StateKey)
	b = binary.AppendVarint(b, m.StateSize)
	b = binary.LittleEndian.AppendUint32(b, m.StateCRC)
	b = binary.AppendUvarint(b, uint64(len(m.Sinks)))
	for _, s := range m.Sinks {
		b = appendString(b, s.Name)
		b = binary.AppendUvarint(b, uint64(len(s.Data)))
		b = append(b, s.Data...)
	}
	keys := make([]string, 0, len(m.Meta))
	for k := range m.Meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, m.Meta[k])
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[len(manifestMagic):], castagnoli))
}

// Decode parses a manifest encoded by Encode. Every error wraps ErrCorrupt: truncation,
// bad magic, unknown version, bad checksum, a malformed body or trailing bytes. The returned
// manifest shares no memory with b.
func Decode(b []byte) (*Manifest, error) {
	if len(b) < headerLen+trailerLen {
		return nil, corrupt("", "manifest of %d bytes is truncated", len(b))
	}
	if len(b) > maxManifestSize {
		return nil, corrupt("", "manifest of %d bytes is larger than %d", len(b), maxManifestSize)
	}
	if string(b[:len(manifestMagic)]) != manifestMagic {
		return nil, corrupt("", "bad manifest magic %q", b[:len(manifestMagic)])
	}
	end := len(b) - trailerLen
	want := binary.LittleEndian.Uint32(b[end:])
	if got := crc32.Checksum(b[len(manifestMagic):end], castagnoli); got != want {
		return nil, corrupt("", "manifest checksum %08x, want %08x (torn or damaged)", got, want)
	}
	if v := b[len(manifestMagic)]; v != manifestVersion {
		return nil, corrupt("", "unknown manifest version %d (this build reads %d)", v, manifestVersion)
	}
	d := decoder{b: b[headerLen:end]}
	m := d.manifest()
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d bytes after the last field", len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}

func (d *decoder) manifest() *Manifest {
	m := &Manifest{
		Job:       d.str(),
		Task:      d.int32(),
		ID:        d.uvarint(),
		Created:   fromUnixNano(d.varint()),
		Watermark: d.varint(),
	}
	if n := d.count(3); n > 0 { // an input takes at least 3 bytes
		m.Inputs = make([]InputOffset, n)
		for i := range m.Inputs {
			m.Inputs[i] = InputOffset{Topic: d.str(), Partition: d.int32(), Offset: d.varint()}
		}
	}
	m.StateKey = d.str()
	if m.StateSize = d.varint(); m.StateSize < 0 {
		d.fail("negative state size %d", m.StateSize)
	}
	m.StateCRC = d.uint32()
	if m.StateKey == "" && (m.StateSize != 0 || m.StateCRC != 0) {
		d.fail("state size %d and crc %08x without a state key", m.StateSize, m.StateCRC)
	}
	if n := d.count(2); n > 0 {
		m.Sinks = make([]SinkState, n)
		for i := range m.Sinks {
			m.Sinks[i] = SinkState{Name: d.str(), Data: d.bytes()}
		}
	}
	if n := d.count(2); n > 0 {
		m.Meta = make(map[string]string, n)
		prev := ""
		for i := 0; i < n; i++ {
			k, v := d.str(), d.str()
			if i > 0 && k <= prev && d.err == nil {
				d.fail("meta key %q out of order after %q", k, prev)
			}
			m.Meta[k], prev = v, k
		}
	}
	return m
}

// decoder reads body fields; the first error sticks and later reads return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = corrupt("", "manifest: "+format, args...)
	}
}

// uvarint reads a minimally encoded uvarint.
func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	switch {
	case n == 0:
		d.fail("truncated varint")
		return 0
	case n < 0:
		d.fail("varint overflows 64 bits")
		return 0
	case n > 1 && d.b[n-1] == 0:
		d.fail("varint is not minimally encoded")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1) // zigzag, as binary.Varint
}

func (d *decoder) int32() int32 {
	v := d.varint()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail("value %d does not fit in 32 bits", v)
		return 0
	}
	return int32(v)
}

func (d *decoder) uint32() uint32 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 4 {
		d.fail("truncated checksum field")
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

// count reads an element count and checks it against the bytes left, given that each
// element takes at least minLen bytes, so a bad count cannot cause a huge allocation.
func (d *decoder) count(minLen int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/minLen) {
		d.fail("count %d exceeds the %d bytes left", n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) raw() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("length %d exceeds the %d bytes left", n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string { return string(d.raw()) }

func (d *decoder) bytes() []byte {
	v := d.raw()
	if len(v) == 0 {
		return nil
	}
	return slices.Clone(v)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// unixNano encodes a time as Unix nanoseconds, the zero time as 0.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}
