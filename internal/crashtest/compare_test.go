package crashtest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/glintstream/glint/connector/kafka"
	"github.com/glintstream/glint/connector/lakehouse"
	"github.com/glintstream/glint/format"
)

// multiset counts canonical encodings of records or rows.
type multiset map[string]int

func (m multiset) size() int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

// diff describes how got (the crashed run's, say) differs from want (the reference's): sizes
// and the first differing elements of each side, in sorted order. "" when they are equal.
func diff(got, want multiset, gotName, wantName string) string {
	var missing, extra []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if d := want[k] - got[k]; d > 0 {
			missing = append(missing, fmt.Sprintf("  %dx %s", d, k))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if d := got[k] - want[k]; d > 0 {
			extra = append(extra, fmt.Sprintf("  %dx %s", d, k))
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "got %d (%d distinct), want %d (%d distinct); %d missing and %d extra distinct elements",
		got.size(), len(got), want.size(), len(want), len(missing), len(extra))
	show := func(what string, l []string) {
		if len(l) == 0 {
			return
		}
		fmt.Fprintf(&b, "\nfirst %s:\n%s", what, strings.Join(l[:min(len(l), 12)], "\n"))
	}
	show("missing (in the "+wantName+", not in the "+gotName+")", missing)
	show("extra (in the "+gotName+", not in the "+wantName+")", extra)
	return b.String()
}

// outputSet is the multiset of (key, value) of result records.
func outputSet(recs []*kgo.Record) multiset {
	m := multiset{}
	for _, r := range recs {
		m[outputKey(r)]++
	}
	return m
}

func outputKey(r *kgo.Record) string { return string(r.Key) + " => " + string(r.Value) }

// dlqSet is the multiset of dead letters: key, value and every header but the job's name
// (which differs between the crashed job and its reference by construction).
func dlqSet(recs []*kgo.Record) multiset {
	m := multiset{}
	for _, r := range recs {
		m[dlqKey(r)]++
	}
	return m
}

func dlqKey(r *kgo.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q => %q", r.Key, r.Value)
	for _, h := range r.Headers {
		if h.Key != kafka.HeaderJob {
			fmt.Fprintf(&b, " %s=%q", h.Key, h.Value)
		}
	}
	return b.String()
}

// dlqClasses counts dead letters by class.
func dlqClasses(recs []*kgo.Record) map[string]int {
	m := map[string]int{}
	for _, r := range recs {
		m[kafka.Header(r, kafka.HeaderClass)]++
	}
	return m
}

// tableSet reads every row of the table's current snapshot through its Iceberg metadata and
// returns them as the JSON the Kafka sink writes for the same row, so that a table can be
// compared with another table and with the Kafka output.
func tableSet(t *testing.T, warehouse, table string) multiset {
	t.Helper()
	ctx := context.Background()
	cat, err := lakehouse.OpenCatalog(ctx, lakehouse.CatalogOptions{Warehouse: warehouse})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	schema, rows, err := lakehouse.Head(ctx, cat, table, 1<<30)
	if err != nil {
		t.Fatalf("reading table %s: %v", table, err)
	}
	m := multiset{}
	for _, r := range rows {
		m[string(format.AppendJSON(nil, schema, r))]++
	}
	return m
}

// values is the multiset of the values of result records (the table holds no key).
func values(recs []*kgo.Record) multiset {
	m := multiset{}
	for _, r := range recs {
		m[string(r.Value)]++
	}
	return m
}

type countRow struct {
	WindowStart string `json:"window_start"`
	Match       string `json:"match_id"`
	Emoji       string `json:"emoji"`
	N           int64  `json:"n"`
	Revision    int64  `json:"revision"`
}

// outputStats checks the result rows of one run on their own, independently of any other run:
// every (window, key) has revisions 0..r once each with growing counts, the record key is the
// match, and the final counts plus the dead letters account for every input record. It returns
// the number of rows and of revised rows.
func outputStats(t *testing.T, label string, recs []*kgo.Record, late, bad, total int) (rows, revised int) {
	t.Helper()
	type pane struct{ w, m, e string }
	revs := map[pane][]countRow{}
	for _, r := range recs {
		var c countRow
		if err := json.Unmarshal(r.Value, &c); err != nil {
			t.Fatalf("%s: result row %s: %v", label, r.Value, err)
		}
		if string(r.Key) != c.Match {
			t.Fatalf("%s: record key %q, want the match_id %q", label, r.Key, c.Match)
		}
		if c.Revision > 0 {
			revised++
		}
		p := pane{c.WindowStart, c.Match, c.Emoji}
		revs[p] = append(revs[p], c)
	}
	var counted int64
	for p, cs := range revs {
		slices.SortFunc(cs, func(a, b countRow) int { return cmp.Compare(a.Revision, b.Revision) })
		for i, c := range cs {
			if c.Revision != int64(i) || (i > 0 && c.N <= cs[i-1].N) {
				t.Fatalf("%s: window %v: revisions %v, want 0..%d once each with growing counts", label, p, cs, len(cs)-1)
			}
		}
		counted += cs[len(cs)-1].N
	}
	if int(counted)+late+bad != total {
		t.Fatalf("%s: %d records counted in final window results + %d late + %d malformed = %d, want every one of the %d input records",
			label, counted, late, bad, int(counted)+late+bad, total)
	}
	return len(recs), revised
}

// provenance describes where the records of got that are in excess of want come from: by
// output partition and producer (id and epoch), how many and at which offsets, next to where
// the other copies of the same rows are. It is what points a duplicate at the transaction that
// should not have been committed.
func provenance(recs []*kgo.Record, want multiset, key func(*kgo.Record) string) string {
	type src struct {
		part  int32
		pid   int64
		epoch int16
	}
	type span struct{ n, lo, hi int64 }
	byKey := map[string][]*kgo.Record{}
	for _, r := range recs {
		k := key(r)
		byKey[k] = append(byKey[k], r)
	}
	copies := map[src]*span{}
	for k, rs := range byKey {
		if len(rs) <= want[k] {
			continue
		}
		for _, r := range rs {
			s := src{r.Partition, r.ProducerID, r.ProducerEpoch}
			sp := copies[s]
			if sp == nil {
				sp = &span{lo: r.Offset, hi: r.Offset}
				copies[s] = sp
			}
			sp.n++
			sp.lo, sp.hi = min(sp.lo, r.Offset), max(sp.hi, r.Offset)
		}
	}
	if len(copies) == 0 {
		return ""
	}
	srcs := slices.SortedFunc(maps.Keys(copies), func(a, b src) int {
		return cmp.Or(cmp.Compare(a.part, b.part), cmp.Compare(copies[a].lo, copies[b].lo))
	})
	var b strings.Builder
	b.WriteString("\nevery copy of the rows seen too often, by output partition and producer:")
	for _, s := range srcs {
		sp := copies[s]
		fmt.Fprintf(&b, "\n  partition %d producer %d epoch %d: %d records at offsets %d..%d", s.part, s.pid, s.epoch, sp.n, sp.lo, sp.hi)
	}
	return b.String()
}

// excessPartitions lists the partitions holding records of got in excess of want.
func excessPartitions(recs []*kgo.Record, want multiset, key func(*kgo.Record) string) []int32 {
	seen := multiset{}
	parts := map[int32]bool{}
	for _, r := range recs {
		k := key(r)
		if seen[k]++; seen[k] > want[k] {
			parts[r.Partition] = true
		}
	}
	return slices.Sorted(maps.Keys(parts))
}
