package lakehouse

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/glintstream/glint/row"
)

// CompactOptions tunes Compact.
type CompactOptions struct {
	// TargetFileSize is the size of the files compaction writes (default 128 MiB).
	TargetFileSize int64
	// SmallFile: files below this are rewritten (default 3/4 of TargetFileSize).
	SmallFile int64
	// MinInputFiles: a partition is compacted when it has at least this many small files
	// (default 2).
	MinInputFiles int
	// Compression of the new files (default zstd).
	Compression string
	// CommitAttempts bounds retries under conflicting commits (default 100).
	CommitAttempts int
}

// CompactResult says what Compact did.
type CompactResult struct {
	Partitions   int   // partitions rewritten
	FilesRemoved int   // small files replaced
	FilesAdded   int   // files written
	Rows         int64 // rows rewritten
	BytesBefore  int64
	BytesAfter   int64
	SnapshotID   int64 // the replace snapshot, 0 if nothing was compacted
}

// ErrCompactionStale: files chosen for compaction were removed by another writer (another
// compaction) before the commit; the new files are deleted and nothing changes.
var ErrCompactionStale = errors.New("lakehouse: files chosen for compaction changed concurrently")

// Compact rewrites each partition's small files into files of about TargetFileSize and
// replaces them in one Iceberg "replace" snapshot: readers see either the old files or the new
// ones, never a row missing or twice. Sinks may keep appending meanwhile (appends do not
// conflict with a rewrite; the commit reloads and retries). The old files stay on disk for
// older snapshots until Expire removes them.
func Compact(ctx context.Context, cat *Catalog, name string, o CompactOptions) (CompactResult, error) {
	var res CompactResult
	o.TargetFileSize = cmp.Or(o.TargetFileSize, 128<<20)
	o.SmallFile = cmp.Or(o.SmallFile, o.TargetFileSize*3/4)
	o.MinInputFiles = max(cmp.Or(o.MinInputFiles, 2), 2)
	codec, ok := parquetCodecs[cmp.Or(o.Compression, DefaultCompression)]
	if !ok {
		return res, fmt.Errorf("%w: unknown compression %q", ErrConfig, o.Compression)
	}
	tn, err := parseTableName(name)
	if err != nil {
		return res, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	tbl, err := cat.loadTable(ctx, tn)
	if err != nil {
		return res, err
	}
	if tbl.CurrentSnapshot() == nil {
		return res, nil
	}
	rs, err := rowSchemaOf(tbl.Schema())
	if err != nil {
		return res, err
	}
	lay, err := newLayout(rs, tbl.Schema())
	if err != nil {
		return res, err
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		return res, fmt.Errorf("lakehouse: plan compaction: %w", err)
	}
	groups := map[string][]table.FileScanTask{}
	for _, t := range tasks {
		f := t.File
		if f.FileSizeBytes() >= o.SmallFile || len(t.DeleteFiles)+len(t.EqualityDeleteFiles)+len(t.DeletionVectorFiles) > 0 {
			continue
		}
		key := fmt.Sprintf("%d|%v", f.SpecID(), partitionKeyOf(f))
		groups[key] = append(groups[key], t)
	}
	keys := make([]string, 0, len(groups))
	for k, g := range groups {
		if len(g) >= o.MinInputFiles {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return res, nil
	}
	slices.Sort(keys)

	loc := strings.TrimRight(tbl.Location(), "/")
	dir := localPath(loc)
	id := randHex()[:12]
	sdir := path.Join(stagingDirName, "compact-"+id)
	if err := os.MkdirAll(filepath.Join(dir, sdir), 0o755); err != nil {
		return res, err
	}
	defer os.RemoveAll(filepath.Join(dir, sdir))

	var old []iceberg.DataFile
	var added []StagedFile
	cleanup := func() {
		for _, f := range added {
			_ = os.Remove(filepath.Join(dir, filepath.FromSlash(f.Final)))
		}
	}
	for _, k := range keys {
		g := groups[k]
		part := partitionDir(loc, g[0].File.FilePath())
		files, err := rewriteGroup(ctx, tbl, g, lay, codec, o.TargetFileSize, dir, sdir, part, id, len(added))
		if err != nil {
			cleanup()
			return res, err
		}
		added = append(added, files...)
		res.Partitions++
		for _, t := range g {
			old = append(old, t.File)
			res.BytesBefore += t.File.FileSizeBytes()
			res.Rows += t.File.Count()
		}
	}
	for _, f := range added {
		res.BytesAfter += f.Bytes
		if err := publish(filepath.Join(dir, filepath.FromSlash(f.Staging)), filepath.Join(dir, filepath.FromSlash(f.Final))); err != nil {
			cleanup()
			return res, err
		}
	}
	dirs := map[string]bool{}
	for _, f := range added {
		dirs[filepath.Dir(filepath.Join(dir, filepath.FromSlash(f.Final)))] = true
	}
	if err := fsyncDirs(dirs); err != nil {
		cleanup()
		return res, err
	}

	marker := "glint.compaction"
	props := iceberg.Properties{PropOperation: "compact", marker: id}
	done := func(t *table.Table) (bool, error) {
		for _, s := range t.Metadata().Snapshots() {
			if s.Summary != nil && s.Summary.Properties[marker] == id {
				return true, nil
			}
		}
		return false, nil
	}
	tbl, err = commitRetry(ctx, cat, tn, tbl, o.CommitAttempts, done, func(txn *table.Transaction, t *table.Table) error {
		if err := stillLive(ctx, t, old); err != nil {
			return err
		}
		fsys, err := t.FS(ctx)
		if err != nil {
			return err
		}
		rw := txn.NewRewrite(props)
		for _, f := range old {
			rw.DeleteFile(f)
		}
		for _, f := range added {
			df, err := table.FileToDataFile(ctx, fsys, loc+"/"+f.Final, t.Schema(), t.Spec(), 0, t.Properties())
			if err != nil {
				return err
			}
			rw.AddDataFile(df)
		}
		return rw.Commit(ctx)
	})
	if err != nil {
		if ok, _ := done(tbl); !ok {
			cleanup()
		}
		return res, fmt.Errorf("lakehouse: commit compaction of %s: %w", tn, err)
	}
	res.FilesRemoved, res.FilesAdded = len(old), len(added)
	for _, s := range tbl.Metadata().Snapshots() {
		if s.Summary != nil && s.Summary.Properties[marker] == id {
			res.SnapshotID = s.SnapshotID
		}
	}
	return res, nil
}

// partitionKeyOf renders a file's partition tuple for grouping.
func partitionKeyOf(f iceberg.DataFile) string {
	p := f.Partition()
	ids := make([]int, 0, len(p))
	for id := range p {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, "%d=%v;", id, p[id])
	}
	return b.String()
}

// partitionDir is the data directory of a file relative to the table, e.g.
// "data/day=2024-05-01", so compacted files land next to the files they replace.
func partitionDir(loc, file string) string {
	rel := strings.TrimPrefix(file, loc+"/")
	if rel == file || !strings.HasPrefix(rel, "data/") {
		return "data"
	}
	return path.Dir(rel)
}

// rewriteGroup reads one partition's files through the Iceberg scan (which maps columns by
// field id across schema versions) and writes them as new staged files of about target bytes.
func rewriteGroup(ctx context.Context, tbl *table.Table, g []table.FileScanTask, lay *layout, codec compress.Codec,
	target int64, dir, sdir, part, id string, seqStart int) ([]StagedFile, error) {
	_, recs, err := tbl.Scan().ReadTasks(ctx, g)
	if err != nil {
		return nil, fmt.Errorf("lakehouse: read files to compact: %w", err)
	}
	var out []StagedFile
	var w *parquetWriter
	var cur StagedFile
	finish := func() error {
		if w == nil {
			return nil
		}
		n, err := w.close()
		w = nil
		if err != nil {
			return err
		}
		cur.Bytes = n
		out = append(out, cur)
		return nil
	}
	fail := func(err error) ([]StagedFile, error) {
		if w != nil {
			w.abort()
		}
		for _, f := range out {
			_ = os.Remove(filepath.Join(dir, filepath.FromSlash(f.Staging)))
		}
		return nil, err
	}
	for rec, err := range recs {
		if err != nil {
			return fail(fmt.Errorf("lakehouse: read files to compact: %w", err))
		}
		if w == nil {
			n := seqStart + len(out)
			cur = StagedFile{
				Staging: path.Join(sdir, fmt.Sprintf("%05d.parquet%s", n, stagingSuffix)),
				Final:   path.Join(part, fmt.Sprintf("compact-%s-%05d-%s.parquet", id, n, randHex()[:8])),
			}
			if w, err = newParquetWriter(filepath.Join(dir, filepath.FromSlash(cur.Staging)), lay, codec); err != nil {
				rec.Release()
				return fail(err)
			}
		}
		cur.Rows += rec.NumRows()
		err := w.write(rec)
		rec.Release()
		if err != nil {
			return fail(err)
		}
		if w.size() >= target {
			if err := finish(); err != nil {
				return fail(err)
			}
		}
	}
	if err := finish(); err != nil {
		return fail(err)
	}
	return out, nil
}

// stillLive fails with ErrCompactionStale unless every file is in t's current snapshot.
func stillLive(ctx context.Context, t *table.Table, files []iceberg.DataFile) error {
	tasks, err := t.Scan().PlanFiles(ctx)
	if err != nil {
		return err
	}
	live := make(map[string]bool, len(tasks))
	for _, task := range tasks {
		live[task.File.FilePath()] = true
	}
	for _, f := range files {
		if !live[f.FilePath()] {
			return fmt.Errorf("%w: %s", ErrCompactionStale, f.FilePath())
		}
	}
	return nil
}

// rowSchemaOf maps a table schema written by glint back to row types.
func rowSchemaOf(sc *iceberg.Schema) (row.Schema, error) {
	var s row.Schema
	for _, f := range sc.Fields() {
		var t row.Type
		switch f.Type.(type) {
		case iceberg.StringType:
			t = row.TypeString
		case iceberg.Int64Type:
			t = row.TypeInt
		case iceberg.Float64Type:
			t = row.TypeFloat
		case iceberg.BooleanType:
			t = row.TypeBool
		case iceberg.TimestampTzType:
			t = row.TypeTimestamp
		default:
			return row.Schema{}, fmt.Errorf("lakehouse: column %s has type %s, which glint does not write", f.Name, f.Type)
		}
		s.Fields = append(s.Fields, row.Field{Name: f.Name, Type: t})
	}
	return s, nil
}

// ExpireOptions tunes Expire.
type ExpireOptions struct {
	// OlderThan: snapshots older than this may be expired (default 7 days).
	OlderThan time.Duration
	// RetainLast snapshots are always kept (default 1).
	RetainLast int
	// OrphansOlderThan: files in the table directory that no remaining snapshot references and
	// that are older than this are deleted (default 24h). It protects files a writer is about
	// to commit; keep it well above the longest commit. Negative skips orphan removal.
	OrphansOlderThan time.Duration
	CommitAttempts   int
}

// ExpireResult says what Expire did.
type ExpireResult struct {
	ExpiredSnapshots int
	DeletedOrphans   []string // paths, relative to the table directory
}

// Expire removes old snapshots (and, as iceberg-go does after the commit, the files only they
// referenced), then orphan files: files under the table directory that no remaining snapshot
// or metadata references. Staged files under staging/ belong to the sinks (a checkpoint may
// still roll them forward) and are never touched, except abandoned compaction outputs older
// than OrphansOlderThan. The writers' commit markers (high-water marks in the table
// properties) survive expiry, so a repeated commit stays a no-op.
func Expire(ctx context.Context, cat *Catalog, name string, o ExpireOptions) (ExpireResult, error) {
	var res ExpireResult
	if o.OlderThan == 0 {
		o.OlderThan = 7 * 24 * time.Hour
	}
	o.RetainLast = max(o.RetainLast, 1)
	if o.OrphansOlderThan == 0 {
		o.OrphansOlderThan = 24 * time.Hour
	}
	tn, err := parseTableName(name)
	if err != nil {
		return res, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	tbl, err := cat.loadTable(ctx, tn)
	if err != nil {
		return res, err
	}
	before := len(tbl.Metadata().Snapshots())
	if before > 0 {
		// Not idempotent by a marker, and need not be: a retry expires what is still expirable.
		tbl, err = commitRetry(ctx, cat, tn, tbl, o.CommitAttempts,
			func(*table.Table) (bool, error) { return false, nil },
			func(txn *table.Transaction, _ *table.Table) error {
				return txn.ExpireSnapshots(table.WithOlderThan(max(o.OlderThan, 0)), table.WithRetainLast(o.RetainLast))
			})
		if err != nil {
			return res, fmt.Errorf("lakehouse: expire snapshots of %s: %w", tn, err)
		}
		res.ExpiredSnapshots = before - len(tbl.Metadata().Snapshots())
	}
	if o.OrphansOlderThan < 0 {
		return res, nil
	}
	loc := strings.TrimRight(tbl.Location(), "/")
	dir := localPath(loc)
	plan, err := tbl.PlanOrphanFiles(ctx, table.WithFilesOlderThan(o.OrphansOlderThan))
	if err != nil {
		return res, fmt.Errorf("lakehouse: find orphan files of %s: %w", tn, err)
	}
	for _, p := range plan.Files() {
		lp := localPath(p)
		rel, err := filepath.Rel(dir, lp)
		if err != nil || !filepath.IsLocal(rel) {
			continue
		}
		if strings.HasPrefix(filepath.ToSlash(rel), stagingDirName+"/") {
			continue // the sinks' staged files: Recover decides about them
		}
		if err := os.Remove(lp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return res, fmt.Errorf("lakehouse: delete orphan %s: %w", rel, err)
		}
		res.DeletedOrphans = append(res.DeletedOrphans, filepath.ToSlash(rel))
	}
	// Abandoned compaction outputs (a compaction that died before its commit).
	cutoff := time.Now().Add(-o.OrphansOlderThan)
	entries, _ := os.ReadDir(filepath.Join(dir, stagingDirName))
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "compact-") {
			continue
		}
		if info, err := e.Info(); err == nil && info.ModTime().Before(cutoff) {
			if err := os.RemoveAll(filepath.Join(dir, stagingDirName, e.Name())); err == nil {
				res.DeletedOrphans = append(res.DeletedOrphans, stagingDirName+"/"+e.Name())
			}
		}
	}
	slices.Sort(res.DeletedOrphans)
	return res, nil
}
