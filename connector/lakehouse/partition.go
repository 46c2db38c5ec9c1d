package lakehouse

import (
	"encoding/binary"
	"fmt"
	"github.com/glintstream/glint/internal/suggest"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/apache/iceberg-go"

	"github.com/glintstream/glint/row"
)

// transformKind is a partition transform the sink supports. All of them preserve order, which
// is what lets Iceberg's AddFiles infer a file's partition from its column statistics.
type transformKind uint8

const (
	tIdentity transformKind = iota
	tYear
	tMonth
	tDay
	tHour
)

var transformNames = map[string]transformKind{
	"identity": tIdentity, "year": tYear, "month": tMonth, "day": tDay, "hour": tHour,
}

func (k transformKind) String() string {
	return [...]string{"identity", "year", "month", "day", "hour"}[k]
}

func (k transformKind) iceberg() iceberg.Transform {
	switch k {
	case tYear:
		return iceberg.YearTransform{}
	case tMonth:
		return iceberg.MonthTransform{}
	case tDay:
		return iceberg.DayTransform{}
	case tHour:
		return iceberg.HourTransform{}
	}
	return iceberg.IdentityTransform{}
}

// partitionField is one parsed partition_by entry.
type partitionField struct {
	Spec      string // as written, e.g. "day(window_start)"
	Name      string // Iceberg partition field name: source, or source_day, source_hour, ...
	Source    string // source column
	SourceIdx int    // index of the source column in the sink's row.Schema
	SourceTyp row.Type
	Kind      transformKind
}

// parsePartitionField parses "col" or "transform(col)" against the sink's input schema.
func parsePartitionField(s string, schema row.Schema) (partitionField, error) {
	spec := strings.TrimSpace(s)
	kind, col := tIdentity, spec
	if open := strings.IndexByte(spec, '('); open >= 0 {
		if !strings.HasSuffix(spec, ")") {
			return partitionField{}, fmt.Errorf("%q: missing ')'", s)
		}
		name := strings.TrimSpace(spec[:open])
		k, ok := transformNames[strings.ToLower(name)]
		if !ok {
			return partitionField{}, fmt.Errorf("unknown transform %q in %q: want identity, year, month, day or hour", name, s)
		}
		kind, col = k, strings.TrimSpace(spec[open+1:len(spec)-1])
	}
	if col == "" {
		return partitionField{}, fmt.Errorf("%q names no column", s)
	}
	idx := schema.Index(col)
	if idx < 0 {
		return partitionField{}, fmt.Errorf("unknown column %q%s (columns: %s)", col, didYouMean(col, schema.Names()), strings.Join(schema.Names(), ", "))
	}
	typ := schema.Fields[idx].Type
	pf := partitionField{Spec: spec, Source: col, SourceIdx: idx, SourceTyp: typ, Kind: kind, Name: col}
	if kind != tIdentity {
		pf.Name = col + "_" + kind.String()
		if typ != row.TypeTimestamp {
			return partitionField{}, fmt.Errorf("%s(%s) needs a timestamp column, %s is %s", kind, col, col, typ)
		}
	} else if typ == row.TypeFloat {
		return partitionField{}, fmt.Errorf("cannot partition by float column %s: floats make poor partition keys; partition by a transform of another column", col)
	}
	return pf, nil
}

// didYouMean suggests the closest name within edit distance 2.
func didYouMean(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := suggest.Distance(strings.ToLower(s), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(", did you mean %q?", best)
}

const (
	msPerHour = int64(time.Hour / time.Millisecond)
	msPerDay  = 24 * msPerHour
)

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// transformValue applies a time transform to a timestamp in ms: hours, days, months or years
// since the Unix epoch, as Iceberg defines them.
func transformValue(k transformKind, ms int64) int64 {
	switch k {
	case tHour:
		return floorDiv(ms, msPerHour)
	case tDay:
		return floorDiv(ms, msPerDay)
	case tMonth:
		t := time.UnixMilli(ms).UTC()
		return int64(t.Year()-1970)*12 + int64(t.Month()) - 1
	case tYear:
		return int64(time.UnixMilli(ms).UTC().Year() - 1970)
	}
	return ms
}

// appendKey appends the partition key of r to dst: a compact binary encoding used to look up
// the row's open file without allocating.
func appendKey(dst []byte, fields []partitionField, r row.Row) []byte {
	for i := range fields {
		f := &fields[i]
		v := r[f.SourceIdx]
		if v.Null {
			dst = append(dst, 0)
			continue
		}
		dst = append(dst, 1)
		switch {
		case f.Kind != tIdentity:
			dst = binary.LittleEndian.AppendUint64(dst, uint64(transformValue(f.Kind, v.I)))
		case f.SourceTyp == row.TypeString:
			dst = binary.LittleEndian.AppendUint32(dst, uint32(len(v.S)))
			dst = append(dst, v.S...)
		default:
			dst = binary.LittleEndian.AppendUint64(dst, uint64(v.I))
		}
	}
	return dst
}

// partitionPath is the Hive-style directory of a partition, "name=value/name=value", formatted
// as Iceberg's PartitionSpec.PartitionToPath does, from any row of the partition.
func partitionPath(fields []partitionField, r row.Row) string {
	var b strings.Builder
	for i := range fields {
		f := &fields[i]
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(url.QueryEscape(f.Name))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(partitionHuman(f, r[f.SourceIdx])))
	}
	return b.String()
}

func partitionHuman(f *partitionField, v row.Value) string {
	if v.Null {
		return "null"
	}
	switch f.Kind {
	case tHour:
		return time.UnixMilli(transformValue(tHour, v.I) * msPerHour).UTC().Format("2006-01-02-15")
	case tDay:
		return time.UnixMilli(transformValue(tDay, v.I) * msPerDay).UTC().Format("2006-01-02")
	case tMonth:
		return time.UnixMilli(v.I).UTC().Format("2006-01")
	case tYear:
		return strconv.Itoa(time.UnixMilli(v.I).UTC().Year())
	}
	switch f.SourceTyp {
	case row.TypeString:
		return v.S
	case row.TypeBool:
		return strconv.FormatBool(v.I != 0)
	case row.TypeTimestamp:
		return time.UnixMilli(v.I).UTC().Format("2006-01-02T15:04:05.999999") + "+00:00"
	}
	return strconv.FormatInt(v.I, 10)
}

// icebergSpec builds the partition spec of fields over the table schema sc.
func icebergSpec(fields []partitionField, sc *iceberg.Schema) (iceberg.PartitionSpec, error) {
	pfs := make([]iceberg.PartitionField, 0, len(fields))
	for i, f := range fields {
		src, ok := sc.FindFieldByName(f.Source)
		if !ok {
			return iceberg.PartitionSpec{}, fmt.Errorf("lakehouse: partition source column %q not in table schema", f.Source)
		}
		pfs = append(pfs, iceberg.PartitionField{
			SourceIDs: []int{src.ID},
			FieldID:   1000 + i,
			Name:      f.Name,
			Transform: f.Kind.iceberg(),
		})
	}
	return iceberg.NewPartitionSpec(pfs...), nil
}

// specMatches reports whether the table's current spec partitions as fields do.
func specMatches(spec iceberg.PartitionSpec, fields []partitionField, sc *iceberg.Schema) bool {
	if spec.NumFields() != len(fields) {
		return false
	}
	for i, f := range fields {
		pf := spec.Field(i)
		name, ok := sc.FindColumnName(pf.SourceID())
		if !ok || name != f.Source || !pf.Transform.Equals(f.Kind.iceberg()) {
			return false
		}
	}
	return true
}

// describeSpec renders a spec as partition_by entries, for error messages.
func describeSpec(spec iceberg.PartitionSpec, sc *iceberg.Schema) string {
	if spec.NumFields() == 0 {
		return "unpartitioned"
	}
	var parts []string
	for _, pf := range spec.Fields() {
		name, _ := sc.FindColumnName(pf.SourceID())
		if _, ok := pf.Transform.(iceberg.IdentityTransform); ok {
			parts = append(parts, name)
		} else {
			parts = append(parts, fmt.Sprintf("%s(%s)", pf.Transform, name))
		}
	}
	return strings.Join(parts, ", ")
}
