package lakehouse

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"

	"github.com/glintstream/glint/row"
)

// ListTables lists every table of the catalog as "namespace.name", sorted.
func ListTables(ctx context.Context, cat *Catalog) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	var walk func(parent table.Identifier) error
	walk = func(parent table.Identifier) error {
		nss, err := cat.cat.ListNamespaces(ctx, parent)
		if err != nil {
			return err
		}
		for _, ns := range nss {
			// Catalogs differ: some list a parent among its children, some list all levels.
			key := strings.Join(ns, "\x00")
			if len(ns) <= len(parent) || seen[key] {
				continue
			}
			seen[key] = true
			for id, err := range cat.cat.ListTables(ctx, ns) {
				if err != nil {
					return err
				}
				out = append(out, strings.Join(id, "."))
			}
			if err := walk(ns); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(nil); err != nil {
		return nil, fmt.Errorf("lakehouse: list tables: %w", err)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// TableInfo describes a table: what `glint lake describe` prints.
type TableInfo struct {
	Name            string            `json:"name"`
	Location        string            `json:"location"`
	FormatVersion   int               `json:"format_version"`
	Columns         []ColumnInfo      `json:"columns"`
	PartitionBy     []string          `json:"partition_by"`
	Properties      map[string]string `json:"properties"`
	CurrentSnapshot int64             `json:"current_snapshot,omitempty"`
	Snapshots       []SnapshotInfo    `json:"snapshots"`
	Files           []FileInfo        `json:"files"`
	Rows            int64             `json:"rows"`
	Bytes           int64             `json:"bytes"`
}

// ColumnInfo is one column of the current schema.
type ColumnInfo struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}

// SnapshotInfo is one snapshot, oldest first; Summary holds the operation's counters and the
// commit's properties (glint.job, glint.task, glint.seq for sink commits).
type SnapshotInfo struct {
	ID        int64             `json:"id"`
	ParentID  int64             `json:"parent_id,omitempty"`
	Sequence  int64             `json:"sequence"`
	Time      time.Time         `json:"time"`
	Operation string            `json:"operation"`
	Summary   map[string]string `json:"summary"`
}

// FileInfo is one live data file of the current snapshot.
type FileInfo struct {
	Path      string `json:"path"` // relative to the table location when inside it
	Partition string `json:"partition"`
	Rows      int64  `json:"rows"`
	Bytes     int64  `json:"bytes"`
}

// Describe reads a table's metadata and its current snapshot's manifests.
func Describe(ctx context.Context, cat *Catalog, name string) (TableInfo, error) {
	tbl, err := cat.LoadTable(ctx, name)
	if err != nil {
		return TableInfo{}, err
	}
	md := tbl.Metadata()
	loc := strings.TrimRight(tbl.Location(), "/")
	info := TableInfo{
		Name:          strings.Join(tbl.Identifier(), "."),
		Location:      loc,
		FormatVersion: md.Version(),
		Properties:    map[string]string{},
	}
	for k, v := range md.Properties() {
		info.Properties[k] = v
	}
	sc := tbl.Schema()
	for _, f := range sc.Fields() {
		info.Columns = append(info.Columns, ColumnInfo{ID: f.ID, Name: f.Name, Type: f.Type.String()})
	}
	spec := tbl.Spec()
	for _, pf := range spec.Fields() {
		src, _ := sc.FindColumnName(pf.SourceID())
		if _, ok := pf.Transform.(iceberg.IdentityTransform); ok {
			info.PartitionBy = append(info.PartitionBy, src)
		} else {
			info.PartitionBy = append(info.PartitionBy, fmt.Sprintf("%s(%s)", pf.Transform, src))
		}
	}
	for _, s := range md.Snapshots() {
		si := SnapshotInfo{ID: s.SnapshotID, Sequence: s.SequenceNumber, Time: time.UnixMilli(s.TimestampMs).UTC(), Summary: map[string]string{}}
		if s.ParentSnapshotID != nil {
			si.ParentID = *s.ParentSnapshotID
		}
		if s.Summary != nil {
			si.Operation = string(s.Summary.Operation)
			for k, v := range s.Summary.Properties {
				si.Summary[k] = v
			}
		}
		info.Snapshots = append(info.Snapshots, si)
	}
	if cur := tbl.CurrentSnapshot(); cur != nil {
		info.CurrentSnapshot = cur.SnapshotID
		tasks, err := tbl.Scan().PlanFiles(ctx)
		if err != nil {
			return info, fmt.Errorf("lakehouse: list files of %s: %w", name, err)
		}
		for _, t := range tasks {
			f := t.File
			p := strings.TrimPrefix(f.FilePath(), loc+"/")
			info.Files = append(info.Files, FileInfo{Path: p, Partition: partitionString(spec, sc, f), Rows: f.Count(), Bytes: f.FileSizeBytes()})
			info.Rows += f.Count()
			info.Bytes += f.FileSizeBytes()
		}
		slices.SortFunc(info.Files, func(a, b FileInfo) int { return strings.Compare(a.Path, b.Path) })
	}
	return info, nil
}

// partitionString renders a file's partition like a Hive path: window_start_day=2024-05-01.
func partitionString(spec iceberg.PartitionSpec, sc *iceberg.Schema, f iceberg.DataFile) string {
	var parts []string
	p := f.Partition()
	for _, pf := range spec.Fields() {
		var typ iceberg.Type = iceberg.PrimitiveTypes.String
		if src, ok := sc.FindFieldByID(pf.SourceID()); ok {
			typ = pf.Transform.ResultType(src.Type)
		}
		parts = append(parts, pf.Name+"="+pf.Transform.ToHumanStrType(typ, p[pf.FieldID]))
	}
	return strings.Join(parts, "/")
}

// Head reads up to n rows of the table's current snapshot (in file order), as rows of the
// table's schema.
func Head(ctx context.Context, cat *Catalog, name string, n int) (row.Schema, []row.Row, error) {
	tbl, err := cat.LoadTable(ctx, name)
	if err != nil {
		return row.Schema{}, nil, err
	}
	s, err := rowSchemaOf(tbl.Schema())
	if err != nil {
		return row.Schema{}, nil, err
	}
	if tbl.CurrentSnapshot() == nil || n <= 0 {
		return s, nil, nil
	}
	_, recs, err := tbl.Scan(table.WithLimit(int64(n))).ToArrowRecords(ctx)
	if err != nil {
		return s, nil, err
	}
	var out []row.Row
	for rec, err := range recs {
		if err != nil {
			return s, out, err
		}
		rows, cerr := recordRows(rec, s)
		rec.Release()
		if cerr != nil {
			return s, out, cerr
		}
		out = append(out, rows...)
		if len(out) >= n {
			break
		}
	}
	if len(out) > n {
		out = out[:n]
	}
	return s, out, nil
}

// recordRows converts an Arrow record batch to rows of s, matching columns by name. The rows
// own their strings: they stay valid after the batch is released.
func recordRows(rec arrow.RecordBatch, s row.Schema) ([]row.Row, error) {
	idx := make([]int, len(s.Fields))
	for i, f := range s.Fields {
		ix := rec.Schema().FieldIndices(f.Name)
		if len(ix) != 1 {
			return nil, fmt.Errorf("lakehouse: column %s missing from record batch", f.Name)
		}
		idx[i] = ix[0]
	}
	out := make([]row.Row, rec.NumRows())
	for r := range out {
		rw := make(row.Row, len(s.Fields))
		for i := range s.Fields {
			v, err := arrowValue(rec.Column(idx[i]), r)
			if err != nil {
				return nil, err
			}
			rw[i] = v
		}
		out[r] = rw
	}
	return out, nil
}

func arrowValue(col arrow.Array, i int) (row.Value, error) {
	if col.IsNull(i) {
		return row.Null(), nil
	}
	switch a := col.(type) {
	case *array.String: // Value aliases the batch's buffer, which outlives no Release
		return row.String(strings.Clone(a.Value(i))), nil
	case *array.LargeString:
		return row.String(strings.Clone(a.Value(i))), nil
	case *array.Int64:
		return row.Int(a.Value(i)), nil
	case *array.Float64:
		return row.Float(a.Value(i)), nil
	case *array.Boolean:
		return row.Bool(a.Value(i)), nil
	case *array.Timestamp:
		v := int64(a.Value(i))
		switch a.DataType().(*arrow.TimestampType).Unit {
		case arrow.Second:
			v *= 1000
		case arrow.Microsecond:
			v = floorDiv(v, 1000)
		case arrow.Nanosecond:
			v = floorDiv(v, 1_000_000)
		}
		return row.Timestamp(v), nil
	}
	return row.Value{}, fmt.Errorf("lakehouse: unsupported Arrow type %s", col.DataType())
}
