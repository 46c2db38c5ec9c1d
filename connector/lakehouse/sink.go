package lakehouse

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/glintstream/glint/row"
)

// Identity names the writer whose output a sink commits: the job and the task. Together with
// a commit sequence number it keys every commit, which makes commits idempotent.
type Identity struct {
	Job  string
	Task int
}

// Option configures Open.
type Option func(*options)

type options struct {
	mem            memory.Allocator
	clock          func() time.Time
	batchRows      int
	maxOpenFiles   int
	commitAttempts int
	catalog        *Catalog

	// beforeIcebergCommit, if set, runs after the staged files were renamed to their final
	// names and before the Iceberg commit: tests kill the process there.
	beforeIcebergCommit func(seq uint64)
}

// WithAllocator sets the Arrow allocator for record batches (default memory.DefaultAllocator).
// Tests pass a memory.CheckedAllocator to prove every batch is released.
func WithAllocator(mem memory.Allocator) Option { return func(o *options) { o.mem = mem } }

// WithClock injects the clock FlushIfDue uses to apply roll_interval (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithBatchRows sets the rows per Arrow record batch (default 16384).
func WithBatchRows(n int) Option { return func(o *options) { o.batchRows = n } }

// WithMaxOpenFiles bounds the partitions with an open data file (default 512); writing to one
// more closes the least recently used file, which then waits for the next Prepare.
func WithMaxOpenFiles(n int) Option { return func(o *options) { o.maxOpenFiles = n } }

// WithCommitAttempts bounds the attempts of one commit under conflicts (default 100, over a
// minute of retrying).
func WithCommitAttempts(n int) Option { return func(o *options) { o.commitAttempts = n } }

// WithCatalog makes the sink use an open catalog (shared by several sinks) instead of opening
// its own from the Config; the caller keeps ownership and closes it after the sinks.
func WithCatalog(c *Catalog) Option { return func(o *options) { o.catalog = c } }

// Sink writes a job's rows into one lakehouse table: Arrow record batches, Parquet files
// (or Arrow IPC files), committed atomically to an Iceberg table.
//
// Protocol (see the package doc): Recover once after Open; then Write rows, Prepare(n) to stage
// and sync everything written so far, Commit(n) after the checkpoint n is durable (Abort(n) if
// it failed). Without checkpoints, FlushIfDue / Flush commit on the size and time policy.
//
// A Sink is not safe for concurrent use: one goroutine (the task's) drives it. Separate sinks,
// in one process or many, may write the same table concurrently.
type Sink struct {
	cfg    settings
	id     Identity
	o      options
	cat    *Catalog
	ownCat bool
	tbl    *table.Table // nil for format arrow
	loc    string       // table location as the catalog has it (may be a file:// URL)
	dir    string       // table directory, local path
	sdir   string       // this writer's staging directory
	prefix string       // file name prefix: safe job name and task
	lay    *layout
	codec  compress.Codec
	ext    string // ".parquet" or ".arrow"

	keyBuf  []byte
	single  *openFile // the open file of an unpartitioned table
	open    map[string]*openFile
	tick    uint64
	done    []StagedFile // finished files awaiting the next Prepare (Final not yet set)
	staged  map[uint64]*Staged
	lastSeq uint64 // highest sequence number prepared or committed

	lastCommitted uint64 // highest sequence number committed (in order, so all below are too)

	stats Stats

	pendingSince time.Time // when the oldest uncommitted row arrived; zero if none
	recovered    bool
	closed       bool
}

// openFile is the file being written for one partition.
type openFile struct {
	key     string
	dir     string // partition path, "" if unpartitioned
	batch   *batcher
	w       fileWriter
	staging string // relative to the table directory
	rows    int64
	used    uint64
}

// Open opens (creating on first use) the table of cfg for rows of schema, written by id, and
// adds schema's new columns to it. Before writing, call Recover. Each (table, id) must have
// one sink at a time: a job with two sinks into one table gives them different Job names.
func Open(ctx context.Context, cfg Config, schema row.Schema, id Identity, opts ...Option) (*Sink, error) {
	s, err := cfg.resolve(schema)
	if err != nil {
		return nil, err
	}
	if id.Job == "" || id.Task < 0 {
		return nil, fmt.Errorf("%w: identity needs a job name and a task >= 0, got %+v", ErrConfig, id)
	}
	o := options{mem: memory.DefaultAllocator, clock: time.Now, batchRows: 16384, maxOpenFiles: 512, commitAttempts: defaultCommitAttempts}
	for _, opt := range opts {
		opt(&o)
	}
	if o.batchRows <= 0 || o.maxOpenFiles <= 0 {
		return nil, fmt.Errorf("%w: batch rows and max open files must be positive", ErrConfig)
	}
	k := &Sink{
		cfg: s, id: id, o: o,
		codec:  parquetCodecs[s.compression],
		prefix: safeName(id.Job) + "-t" + strconv.Itoa(id.Task),
		open:   map[string]*openFile{},
		staged: map[uint64]*Staged{},
		ext:    ".parquet",
	}
	if err := k.openTable(ctx, schema); err != nil {
		k.closeCatalog()
		return nil, err
	}
	k.sdir = filepath.Join(k.dir, stagingDirName, k.prefix)
	if err := os.MkdirAll(k.sdir, 0o755); err != nil {
		k.closeCatalog()
		return nil, fmt.Errorf("lakehouse: staging directory: %w", err)
	}
	return k, nil
}

func (k *Sink) openTable(ctx context.Context, schema row.Schema) error {
	if k.cfg.format == FormatArrow {
		wh, err := filepath.Abs(k.cfg.warehouse)
		if err != nil {
			return err
		}
		k.dir = filepath.Join(append([]string{wh}, k.cfg.table.ident()...)...)
		k.loc, k.ext = k.dir, ".arrow"
		lay, err := newLayout(schema, newIcebergSchema(schema))
		k.lay = lay
		return err
	}
	k.cat = k.o.catalog
	if k.cat == nil {
		c, err := OpenCatalog(ctx, CatalogOptions{Warehouse: k.cfg.warehouse, Kind: k.cfg.catalog, DSN: k.cfg.dsn})
		if err != nil {
			return err
		}
		k.cat, k.ownCat = c, true
	}
	tbl, err := k.cat.openTable(ctx, k.cfg, schema, k.o.commitAttempts)
	if err != nil {
		return err
	}
	k.tbl = tbl
	k.loc = strings.TrimRight(tbl.Location(), "/")
	k.dir = localPath(k.loc)
	k.lastSeq = committedSeq(tbl, k.id)
	k.lastCommitted = k.lastSeq
	k.lay, err = newLayout(schema, tbl.Schema())
	return err
}

func (k *Sink) closeCatalog() {
	if k.ownCat && k.cat != nil {
		_ = k.cat.Close()
	}
}

// Table is the Iceberg table as of the sink's last commit (nil for format arrow).
func (k *Sink) Table() *table.Table { return k.tbl }

// Dir is the table directory.
func (k *Sink) Dir() string { return k.dir }

// LastSeq is the highest sequence number prepared or committed by this writer (after Open,
// the highest committed one). Flush uses LastSeq()+1.
func (k *Sink) LastSeq() uint64 { return k.lastSeq }

// ErrNotRecovered is returned by Write and Prepare before Recover was called.
var ErrNotRecovered = errors.New("lakehouse: call Recover before writing")

// Write buffers rows into Arrow batches and writes full batches to the partitions' open data
// files, rolling a file when it reaches target_file_size. Rows are copied: the caller may
// reuse them when Write returns. An error leaves the sink's unprepared data in doubt: the
// task should fail and recover from its last checkpoint.
func (k *Sink) Write(rows []row.Row) error {
	if err := k.usable(); err != nil {
		return err
	}
	nf := len(k.lay.schema.Fields)
	for _, r := range rows {
		if len(r) != nf {
			return fmt.Errorf("%w: %d values for %d columns", ErrRowShape, len(r), nf)
		}
		of, err := k.fileFor(r)
		if err != nil {
			return err
		}
		of.batch.append(r)
		of.rows++
		if of.batch.full() {
			if err := k.flushBatch(of); err != nil {
				return err
			}
		}
	}
	if len(rows) > 0 && k.pendingSince.IsZero() {
		k.pendingSince = k.o.clock()
	}
	return nil
}

func (k *Sink) usable() error {
	switch {
	case k.closed:
		return ErrClosed
	case !k.recovered:
		return ErrNotRecovered
	}
	return nil
}

// fileFor finds (or starts) the open file of r's partition.
func (k *Sink) fileFor(r row.Row) (*openFile, error) {
	k.tick++
	if len(k.cfg.partition) == 0 {
		if k.single == nil {
			k.single = &openFile{batch: newBatcher(k.o.mem, k.lay, k.o.batchRows)}
		}
		return k.single, nil
	}
	k.keyBuf = appendKey(k.keyBuf[:0], k.cfg.partition, r)
	if of := k.open[string(k.keyBuf)]; of != nil {
		of.used = k.tick
		return of, nil
	}
	if len(k.open) >= k.o.maxOpenFiles {
		if err := k.evictLRU(); err != nil {
			return nil, err
		}
	}
	of := &openFile{
		key:   string(k.keyBuf),
		dir:   partitionPath(k.cfg.partition, r),
		batch: newBatcher(k.o.mem, k.lay, k.o.batchRows),
		used:  k.tick,
	}
	k.open[of.key] = of
	return of, nil
}

func (k *Sink) evictLRU() error {
	var lru *openFile
	for _, of := range k.open {
		if lru == nil || of.used < lru.used {
			lru = of
		}
	}
	if err := k.roll(lru); err != nil {
		return err
	}
	lru.batch.release()
	delete(k.open, lru.key)
	return nil
}

// flushBatch writes the partition's buffered rows to its file, rolling it at the target size.
func (k *Sink) flushBatch(of *openFile) error {
	rec := of.batch.flush()
	if rec == nil {
		return nil
	}
	defer rec.Release()
	if of.w == nil {
		of.staging = path.Join(stagingDirName, k.prefix, randHex()+k.ext+stagingSuffix)
		p := filepath.Join(k.dir, filepath.FromSlash(of.staging))
		var err error
		if k.cfg.format == FormatArrow {
			of.w, err = newArrowWriter(p, k.lay, k.o.mem, k.cfg.compression)
		} else {
			of.w, err = newParquetWriter(p, k.lay, k.codec)
		}
		if err != nil {
			return fmt.Errorf("lakehouse: create data file: %w", err)
		}
	}
	if err := of.w.write(rec); err != nil {
		return fmt.Errorf("lakehouse: write %s: %w", of.staging, err)
	}
	if of.w.size() >= k.cfg.targetFileSize {
		return k.roll(of)
	}
	return nil
}

// roll finishes the partition's file (synced) and queues it for the next Prepare.
func (k *Sink) roll(of *openFile) error {
	if err := k.flushBatch(of); err != nil {
		return err
	}
	if of.w == nil {
		return nil
	}
	n, err := of.w.close()
	of.w = nil
	if err != nil {
		return fmt.Errorf("lakehouse: finish %s: %w", of.staging, err)
	}
	k.done = append(k.done, StagedFile{Staging: of.staging, Final: of.dir, Rows: of.rows, Bytes: n})
	of.rows = 0
	return nil
}

// Prepare finishes every open file, syncs the files and the staging directory, and returns
// what Commit(seq) will publish. Nothing is visible to readers yet. seq must be above every
// sequence number prepared or committed before (checkpoint ids are). Rows written after
// Prepare belong to the next one.
//
// Ordering rule: the caller writes the returned Staged into checkpoint manifest seq only
// after Prepare returns, i.e. after the staged files are durable.
func (k *Sink) Prepare(seq uint64) (Staged, error) {
	if err := k.usable(); err != nil {
		return Staged{}, err
	}
	if seq <= k.lastSeq {
		return Staged{}, fmt.Errorf("%w: prepare %d after %d", ErrSeqOrder, seq, k.lastSeq)
	}
	if k.single != nil {
		if err := k.roll(k.single); err != nil {
			return Staged{}, err
		}
	}
	for _, of := range k.sortedOpen() {
		if err := k.roll(of); err != nil {
			return Staged{}, err
		}
	}
	st := &Staged{Table: k.cfg.table.String(), Job: k.id.Job, Task: k.id.Task, Seq: seq}
	for i, f := range k.done {
		name := fmt.Sprintf("%s-s%d-%03d-%s%s", k.prefix, seq, i, randHex()[:8], k.ext)
		f.Final = path.Join("data", f.Final, name)
		st.Files = append(st.Files, f)
	}
	k.done = nil
	if len(st.Files) > 0 {
		if err := fsyncDir(k.sdir); err != nil {
			return Staged{}, fmt.Errorf("lakehouse: sync staging directory: %w", err)
		}
	}
	k.staged[seq] = st
	k.lastSeq = seq
	k.pendingSince = time.Time{}
	return cloneStaged(st), nil
}

func (k *Sink) sortedOpen() []*openFile {
	ofs := make([]*openFile, 0, len(k.open))
	for _, of := range k.open {
		ofs = append(ofs, of)
	}
	slices.SortFunc(ofs, func(a, b *openFile) int { return cmp.Compare(a.dir, b.dir) })
	return ofs
}

func cloneStaged(st *Staged) Staged {
	c := *st
	c.Files = slices.Clone(st.Files)
	return c
}

// Commit publishes every prepared sequence number up to seq, oldest first, each in one
// Iceberg snapshot whose summary names the job, the task and the sequence number. Committing
// a sequence number that is already committed is a no-op, also after a restart (the table's
// snapshot history and per-writer high-water mark are checked first).
//
// Ordering rule: call Commit(seq) only after checkpoint seq is durable; it is then safe to
// repeat, and Recover rolls it forward if the process dies before it finishes.
func (k *Sink) Commit(ctx context.Context, seq uint64) error {
	if k.closed {
		return ErrClosed
	}
	var seqs []uint64
	for s := range k.staged {
		if s <= seq {
			seqs = append(seqs, s)
		}
	}
	slices.Sort(seqs)
	for _, s := range seqs {
		if err := k.commitStaged(ctx, k.staged[s]); err != nil {
			return err
		}
		delete(k.staged, s)
	}
	if k.isCommitted(seq) {
		return nil
	}
	return fmt.Errorf("%w: %d (never prepared, or aborted)", ErrUnknownSeq, seq)
}

// isCommitted reports whether this writer's seq is committed. Commits happen in sequence
// order, so everything up to the last commit is; the table's marker covers a restart.
func (k *Sink) isCommitted(seq uint64) bool {
	if seq <= k.lastCommitted {
		return true
	}
	return k.tbl != nil && committed(k.tbl, k.id, seq)
}

// committedSeq is the writer's high-water mark recorded in the table properties.
func committedSeq(t *table.Table, id Identity) uint64 {
	v, err := strconv.ParseUint(t.Properties()[hwmKey(id.Job, id.Task)], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// committed reports whether (job, task, seq) was committed to t: at or below the writer's
// high-water mark (which survives snapshot expiry), or named by a snapshot's summary.
func committed(t *table.Table, id Identity, seq uint64) bool {
	if committedSeq(t, id) >= seq {
		return true
	}
	task, s := strconv.Itoa(id.Task), strconv.FormatUint(seq, 10)
	for _, snap := range t.Metadata().Snapshots() {
		if snap.Summary == nil {
			continue
		}
		p := snap.Summary.Properties
		if p[PropJob] == id.Job && p[PropTask] == task && p[PropSeq] == s {
			return true
		}
	}
	return false
}

// commitStaged publishes one Staged: intent record, renames, Iceberg snapshot.
//
// Ordering rules: the intent (the Staged itself, synced) is written BEFORE any file is renamed
// to its final name, so Recover can finish or undo a half-done publish; the renamed files and
// their directories are synced BEFORE the Iceberg commit, so a committed snapshot never names
// a file a crash could lose; the intent is removed only AFTER the commit.
func (k *Sink) commitStaged(ctx context.Context, st *Staged) error {
	if st.Job != k.id.Job || st.Task != k.id.Task || st.Table != k.cfg.table.String() {
		return fmt.Errorf("%w: %s/%s task %d, this sink is %s/%s task %d",
			ErrWrongTable, st.Table, st.Job, st.Task, k.cfg.table, k.id.Job, k.id.Task)
	}
	if len(st.Files) == 0 {
		k.markCommitted(st.Seq)
		return nil
	}
	intent := filepath.Join(k.sdir, intentPrefix+strconv.FormatUint(st.Seq, 10)+intentSuffix)
	if k.isCommitted(st.Seq) {
		return k.finish(st, intent)
	}
	if _, err := os.Stat(intent); errors.Is(err, fs.ErrNotExist) {
		b, _ := json.Marshal(st)
		if err := writeFileSync(intent, b); err != nil {
			return fmt.Errorf("lakehouse: write commit intent: %w", err)
		}
	}
	dirs := map[string]bool{k.sdir: true}
	for _, f := range st.Files {
		from := filepath.Join(k.dir, filepath.FromSlash(f.Staging))
		to := filepath.Join(k.dir, filepath.FromSlash(f.Final))
		if err := publish(from, to); err != nil {
			return err
		}
		dirs[filepath.Dir(to)] = true
	}
	if err := fsyncDirs(dirs); err != nil {
		return err
	}
	if k.o.beforeIcebergCommit != nil {
		k.o.beforeIcebergCommit(st.Seq)
	}
	if k.tbl != nil {
		if err := k.commitIceberg(ctx, st); err != nil {
			return err
		}
	}
	return k.finish(st, intent)
}

// publish moves a staged file to its final name; done already if only the final file exists.
func publish(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return fmt.Errorf("lakehouse: create %s: %w", filepath.Dir(to), err)
	}
	err := os.Rename(from, to)
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(to); serr == nil {
			return nil // renamed by an earlier attempt
		}
		return fmt.Errorf("%w: %s (final name %s)", ErrStagedFileLost, from, to)
	}
	return fmt.Errorf("lakehouse: publish %s: %w", to, err)
}

// finish removes what is left of a committed Staged: staged copies (none normally) and intent.
func (k *Sink) finish(st *Staged, intent string) error {
	for _, f := range st.Files {
		_ = os.Remove(filepath.Join(k.dir, filepath.FromSlash(f.Staging)))
	}
	if err := os.Remove(intent); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("lakehouse: remove commit intent: %w", err)
	}
	k.markCommitted(st.Seq)
	k.stats.Commits++
	k.stats.FilesCommitted += int64(len(st.Files))
	k.stats.RowsCommitted += st.Rows()
	return nil
}

// Stats counts a sink's commits since Open.
type Stats struct {
	Commits        int64 // sequence numbers published (including ones found already committed)
	CommitRetries  int64 // commit attempts repeated because another writer committed first
	FilesCommitted int64
	RowsCommitted  int64
}

// Stats returns the sink's counters.
func (k *Sink) Stats() Stats { return k.stats }

func (k *Sink) markCommitted(seq uint64) {
	k.lastSeq = max(k.lastSeq, seq)
	k.lastCommitted = max(k.lastCommitted, seq)
}

// commitIceberg adds the published files in one append snapshot, with the commit marker.
func (k *Sink) commitIceberg(ctx context.Context, st *Staged) error {
	paths := make([]string, len(st.Files))
	for i, f := range st.Files {
		paths[i] = k.loc + "/" + f.Final
	}
	props := iceberg.Properties{
		PropJob: st.Job, PropTask: strconv.Itoa(st.Task), PropSeq: strconv.FormatUint(st.Seq, 10),
		PropOperation: "append",
	}
	seq := st.Seq
	t, retries, err := commitRetryN(ctx, k.cat, k.cfg.table, k.tbl, k.o.commitAttempts,
		func(t *table.Table) (bool, error) { return committed(t, k.id, seq), nil },
		func(txn *table.Transaction, t *table.Table) error {
			if err := checkSchema(k.lay, t); err != nil {
				return err
			}
			if err := txn.SetProperties(iceberg.Properties{hwmKey(k.id.Job, k.id.Task): strconv.FormatUint(seq, 10)}); err != nil {
				return err
			}
			// Duplicates are impossible here: the marker check ran first and the final names are
			// unique, so skip iceberg-go's scan of every manifest for them.
			return txn.AddFiles(ctx, paths, props, true)
		})
	if t != nil {
		k.tbl = t
	}
	k.stats.CommitRetries += int64(retries)
	if err != nil {
		return fmt.Errorf("lakehouse: commit %s seq %d: %w", k.cfg.table, seq, err)
	}
	return nil
}

// checkSchema fails if another writer changed one of this sink's columns since it opened.
func checkSchema(l *layout, t *table.Table) error {
	sc := t.Schema()
	for i, f := range l.schema.Fields {
		tf, ok := sc.FindFieldByID(l.fieldIDs[i])
		if !ok || tf.Name != f.Name || !tf.Type.Equals(icebergType(f.Type)) {
			return fmt.Errorf("%w: column %q of table %s was changed by another writer", ErrTypeChanged, f.Name, t.Identifier())
		}
	}
	return nil
}

// Abort discards a prepared sequence number (its checkpoint failed): the staged files are
// removed. Unknown or already aborted sequence numbers are a no-op.
func (k *Sink) Abort(seq uint64) error {
	st, ok := k.staged[seq]
	if !ok {
		return nil
	}
	var errs []error
	for _, f := range st.Files {
		if err := os.Remove(filepath.Join(k.dir, filepath.FromSlash(f.Staging))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	delete(k.staged, seq)
	return errors.Join(errs...)
}

// Recover settles what a previous run of this writer (same job and task) left behind, and must
// be called once after Open, before Write:
//   - commits that had started (a commit intent is on disk) are finished: they were only ever
//     started for durable checkpoints;
//   - each Staged passed in (from the newest complete checkpoint manifest, whose commit may not
//     have run) is committed, oldest first; already committed ones are skipped;
//   - every other staged file of this writer is deleted: it belongs to a checkpoint that never
//     completed.
//
// Recover is idempotent; after a crash inside it, call it again with the same arguments.
func (k *Sink) Recover(ctx context.Context, rollForward ...Staged) error {
	if k.closed {
		return ErrClosed
	}
	todo := map[uint64]*Staged{}
	entries, err := os.ReadDir(k.sdir)
	if err != nil {
		return fmt.Errorf("lakehouse: read staging directory: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, intentPrefix) || !strings.HasSuffix(name, intentSuffix) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(k.sdir, name))
		if err != nil {
			return fmt.Errorf("lakehouse: read commit intent: %w", err)
		}
		var st Staged
		if err := st.UnmarshalBinary(b); err != nil {
			return fmt.Errorf("lakehouse: commit intent %s: %w", name, err)
		}
		todo[st.Seq] = &st
	}
	for i := range rollForward {
		st := cloneStaged(&rollForward[i])
		todo[st.Seq] = &st
	}
	seqs := make([]uint64, 0, len(todo))
	for s := range todo {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	for _, s := range seqs {
		if err := k.commitStaged(ctx, todo[s]); err != nil {
			return fmt.Errorf("lakehouse: recover seq %d: %w", s, err)
		}
	}
	// Everything else here is from an incomplete checkpoint or an interrupted write.
	entries, err = os.ReadDir(k.sdir)
	if err != nil {
		return fmt.Errorf("lakehouse: read staging directory: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(k.sdir, e.Name())); err != nil {
			return fmt.Errorf("lakehouse: remove stale staged file: %w", err)
		}
	}
	if err := fsyncDir(k.sdir); err != nil {
		return err
	}
	clear(k.staged)
	k.recovered = true
	return nil
}

// Flush commits everything written so far now, under the next sequence number (LastSeq()+1):
// Prepare then Commit. For sinks that run without checkpoints.
func (k *Sink) Flush(ctx context.Context) error {
	seq := k.lastSeq + 1
	if _, err := k.Prepare(seq); err != nil {
		return err
	}
	return k.Commit(ctx, seq)
}

// Due reports whether the size and time policy asks for a commit: a file reached
// target_file_size, or the oldest uncommitted row has waited roll_interval.
func (k *Sink) Due() bool {
	if len(k.done) > 0 {
		return true
	}
	return !k.pendingSince.IsZero() && k.o.clock().Sub(k.pendingSince) >= k.cfg.rollInterval
}

// FlushIfDue calls Flush when Due; it reports whether it did.
func (k *Sink) FlushIfDue(ctx context.Context) (bool, error) {
	if !k.Due() {
		return false, nil
	}
	return true, k.Flush(ctx)
}

// Close releases the sink. Rows not yet prepared are discarded (their checkpoint never
// completed; a sink without checkpoints calls Flush first); prepared but uncommitted files stay
// staged for Recover. Closes the catalog unless it was passed in with WithCatalog.
func (k *Sink) Close() error {
	if k.closed {
		return nil
	}
	k.closed = true
	discard := func(of *openFile) {
		if of.w != nil {
			of.w.abort()
			of.w = nil
		}
		of.batch.release()
	}
	if k.single != nil {
		discard(k.single)
	}
	for _, of := range k.open {
		discard(of)
	}
	for _, f := range k.done {
		_ = os.Remove(filepath.Join(k.dir, filepath.FromSlash(f.Staging)))
	}
	k.done = nil
	k.closeCatalog()
	return nil
}
