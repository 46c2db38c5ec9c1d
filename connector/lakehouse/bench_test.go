package lakehouse

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/glintstream/glint/row"
)

// Benchmarks, on one core:
//
//	go test ./connector/lakehouse -run '^$' -bench SinkVsRawParquet -benchtime 7x
//	go test ./connector/lakehouse -run '^$' -bench Commit10Files -benchtime 300x
//
// BenchmarkSinkVsRawParquet writes the same emoji-count rows with the sink (rows → Arrow →
// parquet-go → Iceberg commit) and with parquet-go alone (GenericWriter of a struct, the
// ceiling) in each iteration, and reports both rates and their ratio.

const benchRows = 1 << 20

var (
	benchOnce   sync.Once
	benchData   []row.Row
	benchStruct []emojiPQ
)

// emojiPQ is the same row for parquet-go's fastest path: optional columns, dictionary encoded
// like the sink's, zstd.
type emojiPQ struct {
	WindowStart int64  `parquet:"window_start,optional,dict,timestamp(microsecond)"`
	WindowEnd   int64  `parquet:"window_end,optional,dict,timestamp(microsecond)"`
	MatchID     string `parquet:"match_id,optional,dict"`
	Emoji       string `parquet:"emoji,optional,dict"`
	N           int64  `parquet:"n,optional,dict"`
	Revision    int64  `parquet:"revision,optional,dict"`
}

func benchInput() ([]row.Row, []emojiPQ) {
	benchOnce.Do(func() {
		benchData = emojiRows(42, 0, benchRows)
		benchStruct = make([]emojiPQ, len(benchData))
		for i, r := range benchData {
			benchStruct[i] = emojiPQ{r[0].I * 1000, r[1].I * 1000, r[2].S, r[3].S, r[4].I, r[5].I + 1}
		}
	})
	return benchData, benchStruct
}

func writeRaw(b *testing.B, dir string, rows []emojiPQ) int64 {
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("raw-%d.parquet", time.Now().UnixNano())))
	if err != nil {
		b.Fatal(err)
	}
	w := parquet.NewGenericWriter[emojiPQ](f, parquet.Compression(&parquet.Zstd), parquet.DictionaryMaxBytes(dictionaryMaxBytes))
	for i := 0; i < len(rows); i += 4096 {
		if _, err := w.Write(rows[i:min(i+4096, len(rows))]); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	st, _ := f.Stat()
	f.Close()
	os.Remove(f.Name())
	return st.Size()
}

func writeSink(b *testing.B, k *Sink, rows []row.Row) {
	for i := 0; i < len(rows); i += 4096 {
		if err := k.Write(rows[i:min(i+4096, len(rows))]); err != nil {
			b.Fatal(err)
		}
	}
	if err := k.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkSinkVsRawParquet(b *testing.B) {
	rows, structs := benchInput()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // one core
	dir := b.TempDir()
	cfg := Config{Table: "bench", Warehouse: dir}
	k, err := Open(context.Background(), cfg, emojiSchema, Identity{Job: "bench", Task: 0})
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	if err := k.Recover(context.Background()); err != nil {
		b.Fatal(err)
	}
	var raw, sink time.Duration
	var ratios []float64
	var rawBytes int64
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		rawBytes = writeRaw(b, dir, structs)
		t1 := time.Now()
		writeSink(b, k, rows)
		t2 := time.Now()
		raw += t1.Sub(t0)
		sink += t2.Sub(t1)
		ratios = append(ratios, t1.Sub(t0).Seconds()/t2.Sub(t1).Seconds())
	}
	b.StopTimer()
	rawRate := float64(b.N*len(rows)) / raw.Seconds()
	sinkRate := float64(b.N*len(rows)) / sink.Seconds()
	slices.Sort(ratios)
	b.ReportMetric(rawRate/1e6, "raw_Mrows/s")
	b.ReportMetric(sinkRate/1e6, "sink_Mrows/s")
	// The median of the per-iteration ratios: each pair ran back to back, so it is less
	// sensitive to a shared machine's load changing during the run than the ratio of totals.
	b.ReportMetric(ratios[len(ratios)/2], "sink/raw")
	b.ReportMetric(0, "ns/op")
	st := k.Stats()
	b.Logf("raw file %d bytes; sink committed %d files, %d rows", rawBytes, st.FilesCommitted, st.RowsCommitted)
}

// BenchmarkSinkWrite is the sink alone (rows → Arrow → zstd Parquet, commit), one core.
func BenchmarkSinkWrite(b *testing.B) {
	rows, _ := benchInput()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	k, err := Open(context.Background(), Config{Table: "bench", Warehouse: b.TempDir()}, emojiSchema, Identity{Job: "bench", Task: 0})
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	if err := k.Recover(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		writeSink(b, k, rows)
	}
	b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds()/1e6, "Mrows/s")
}

// BenchmarkCommit10Files times Commit of a Prepare that staged 10 files (10 partitions), on
// a table that grows by one snapshot per iteration. Reports p50 and p99 in ms.
func BenchmarkCommit10Files(b *testing.B) {
	ctx := context.Background()
	cfg := Config{Table: "commits", Warehouse: b.TempDir(), PartitionBy: []string{"match_id"}}
	k, err := Open(ctx, cfg, emojiSchema, Identity{Job: "bench", Task: 0})
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	if err := k.Recover(ctx); err != nil {
		b.Fatal(err)
	}
	rows := emojiRows(9, 0, 2000)
	for i, r := range rows {
		r[2] = row.String(fmt.Sprintf("m%d", i%10))
	}
	durs := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		if err := k.Write(rows); err != nil {
			b.Fatal(err)
		}
		st, err := k.Prepare(uint64(i + 1))
		if err != nil {
			b.Fatal(err)
		}
		if len(st.Files) != 10 {
			b.Fatalf("staged %d files", len(st.Files))
		}
		b.StartTimer()
		t0 := time.Now()
		if err := k.Commit(ctx, st.Seq); err != nil {
			b.Fatal(err)
		}
		durs = append(durs, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(durs)
	pct := func(p float64) float64 {
		return float64(durs[min(len(durs)-1, int(p*float64(len(durs))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(float64(durs[len(durs)-1].Microseconds())/1000, "max_ms")
}
