// Package lakehouse is the lakehouse sink: it writes a job's output rows into Apache Iceberg
// tables of Parquet files under a warehouse directory, committed atomically and exactly once,
// so that Spark, Trino, DuckDB or PyIceberg read them and a plain Parquet reader reads the
// files. It also maintains and inspects those tables (compaction, expiry, describe, head) for
// the `glint lake` command (package lakecli).
//
// # Write path
//
// Rows (row.Row of the sink's row.Schema) are appended to Arrow record batches (arrow-go,
// allocator injectable), one batch per partition; full batches are written through parquet-go
// as optional, dictionary-encoded (strings, ints, timestamps) columns with the table's Iceberg
// field ids and column statistics, zstd by default. A data file is rolled at
// target_file_size. Files are committed to the table with iceberg-go's Transaction.AddFiles,
// which reads their footers for statistics and partition values.
//
//	string → utf8 → string      int → int64 → long      float → float64 → double
//	bool → bool → boolean       timestamp (ms) → timestamp[us, UTC] → timestamptz
//
// The table is created on first use (format v2, the configured partition spec: identity, or
// year/month/day/hour of a timestamp column). An input column the table lacks is added
// (schema evolution); a column whose type differs is a *TypeChangedError; a partitioning that
// differs from the table's is an ErrConfig error.
//
// # Layout
//
//	WAREHOUSE/NAMESPACE/TABLE/                       (SQL catalog: WAREHOUSE/NAMESPACE.db/TABLE)
//	  metadata/  v1.metadata.json … version-hint.text, manifests, manifest lists
//	  data/window_start_day=2024-05-01/emoji-t3-s17-000-1f2e3d4c.parquet
//	  staging/emoji-t3/8c1f….parquet.staging        staged, not yet committed
//	  staging/emoji-t3/commit-17.json               commit intent (a Staged), during a commit
//
// Staged files are named *.parquet.staging in a staging directory: no *.parquet glob matches
// them, and they are neither hidden (.x) nor _x names, which DuckDB's ** glob would read.
//
// # Exactly-once protocol
//
// A Sink belongs to one task of one job (its Identity). Use:
//
//	k, err := lakehouse.Open(ctx, cfg, schema, lakehouse.Identity{Job: "emoji", Task: 3})
//	err = k.Recover(ctx, stagedFromNewestCompleteManifest...) // always, once, before Write
//	err = k.Write(rows)                  // buffers; may roll files
//	st, err := k.Prepare(n)              // at barrier n: finish files, fsync, return Staged
//	… write st into checkpoint manifest n, sync it (the commit point) …
//	err = k.Commit(ctx, n)               // publish; idempotent
//	err = k.Abort(n)                     // instead, if checkpoint n failed
//
// Commit(n) publishes every prepared n' ≤ n, oldest first, each in one Iceberg snapshot whose
// summary holds glint.job, glint.task and glint.seq; the same transaction records the writer's
// high-water mark in the table property glint.committed-seq.JOB.tTASK. Before committing, the
// sink checks both (the snapshot history and the mark, which survives snapshot expiry), so
// committing a (job, task, seq) again is a no-op, also after a restart. Ordering rules:
//   - Prepare syncs every staged file and the staging directory before it returns: a Staged in
//     a manifest never names a file a crash could lose.
//   - Commit writes the Staged as a commit intent (synced) before renaming any staged file to
//     its final name, syncs the renamed files' directories before the Iceberg commit, and
//     removes the intent after it.
//   - Recover finishes every commit whose intent it finds (Commit is only ever called for a
//     durable checkpoint), commits the Staged it is given (the newest complete manifest's, whose
//     Commit may not have run), and deletes every other staged file of the writer: they belong
//     to checkpoints that never completed.
//
// Until checkpoints exist, FlushIfDue (or Due and Flush) commit on the size and time policy:
// when a file reached target_file_size, or the oldest uncommitted row waited roll_interval
// (measured on the clock given with WithClock). Flush uses sequence number LastSeq()+1.
//
// Concurrent writers: several sinks (tasks, processes, machines sharing the warehouse or the
// SQL catalog) may commit to one table. iceberg-go's local catalogs do not retry a
// conflicting commit, so the sink does: reload, check its marker, retry with jittered backoff
// (Stats().CommitRetries counts them).
//
// # Files sized for readers
//
// With checkpoints every commit closes the files of its checkpoint (a Parquet file is only
// readable once its footer is written), so checkpoint intervals bound file sizes from below;
// without checkpoints files roll by size and time. Compact rewrites each partition's small
// files into files of about the target size in one "replace" snapshot (a reader sees the old
// files or the new ones, never a row missing or twice), while sinks keep appending. Expire
// removes old snapshots, the files only they referenced, and orphan files older than a safety
// age, never the sinks' staged files.
//
// # Arrow IPC output
//
// With format: arrow the sink writes Arrow IPC (Feather v2) files, zstd, lz4 or uncompressed,
// with the same staging, commit-by-rename and recovery protocol, for fast local reads. Iceberg
// has no Arrow file format, so these files have no catalog: a commit is the atomic rename.
//
// # What readers see
//
// Iceberg readers see exactly the committed snapshots. A plain Parquet glob over the table
// directory sees committed files, and also, until Expire removes them, files replaced by
// compaction (which an Iceberg reader skips), and, for the moment between a commit's renames
// and its Iceberg commit (or until Recover after a crash there), the files being committed.
//
// # Catalogs
//
// catalog: filesystem (default) is iceberg-go's Hadoop-style catalog in the warehouse
// directory. catalog: sql with catalog_dsn uses iceberg-go's SQL catalog over SQLite
// (modernc.org/sqlite, pure Go: "sqlite:///path/catalog.db") or MySQL ("mysql://…"); a
// PostgreSQL DSN is refused because no pure-Go postgres driver is linked.
package lakehouse
