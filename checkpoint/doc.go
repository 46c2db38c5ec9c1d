// Package checkpoint stores the checkpoints of Glint tasks: the storage half of barrier
// checkpoints (DESIGN.md, "Exactly-once: barrier checkpoints").
//
// A task (task id = partition number) takes checkpoint n at a barrier: the driver records its
// input offsets, snapshots operator state (opaque bytes), lets sinks pre-commit (opaque
// per-sink bytes), then calls Save. Save writes the state blob, then manifest n. Manifest n on
// storage is the commit point: only after Save returns may sinks commit, keyed by (job, task,
// n). On restart, Latest returns the newest complete checkpoint, OpenState streams its state
// back, and the driver rolls its sink commits forward and seeks its inputs.
//
//	st, err := checkpoint.Open(ctx, "./glint-data/checkpoints", checkpoint.WithLogger(log))
//	...
//	m := &checkpoint.Manifest{Job: "emoji", Task: 3, ID: id, Inputs: offsets, Watermark: wm,
//		Sinks: []checkpoint.SinkState{{Name: "counts", Data: staged}}}
//	err = st.Save(ctx, m, bytes.NewReader(snapshot)) // nil: committed
//	...
//	m, err = st.Latest(ctx, "emoji", 3)              // errors.Is(err, checkpoint.ErrNotFound): fresh start
//	r, err := st.OpenState(ctx, m)                    // Read returns ErrCorrupt instead of io.EOF on damage
//	next, err := st.NextID(ctx, "emoji", 3)           // id of the next checkpoint: never reuse one
//	err = st.Prune(ctx, "emoji", 3, 3)                // keep the newest 3
//
// # Layout and format
//
// Under the storage location: <job>/task-<n>/state-<id> and <job>/task-<n>/manifest-<id>, ids
// zero-padded to 20 digits so that listings sort by id. The manifest is a small binary object
// (magic "GLCK", a version byte, the fields, CRC-32C): see Encode. The state blob is the
// caller's bytes unchanged; the manifest records its size and CRC-32C.
//
// # Guarantees
//
//   - A manifest names a state blob that was completely written (and, for a local directory,
//     fsynced) before the manifest was written. Local writes are temp file, fsync, rename,
//     fsync of the directory: fileblob alone does not fsync (see durable.go).
//   - Objects are written whole or not at all (fileblob renames; cloud stores commit on
//     close). A torn object, as a damaged disk or a non-atomic store may still leave one, fails
//     the manifest's CRC or the state's size/CRC and is skipped by Latest, which logs it and
//     falls back to the previous complete checkpoint.
//   - Neither a manifest nor a state blob is ever overwritten: Save of an id that is on
//     storage fails with ErrExists. Ids are never reused, not even those of failed saves:
//     take the next one from NextID.
//   - Latest returns errors reading storage instead of skipping past them: falling back over
//     a good checkpoint because of a timeout would roll the task back.
//
// # Storage locations
//
// A plain path or file:///path is a local directory; mem:// is in memory (tests). The cloud
// drivers of gocloud.dev (s3blob, gcsblob, azureblob) are not linked in by default: measured
// on the project machine they grow the glint binary from 17 MB to 67 MB, add about sixty
// modules to go.mod and 2.5 minutes to a cold build. A binary opts in by blank-importing the
// driver, which registers its scheme with blob.DefaultURLMux (or with the mux given to
// WithURLMux), for instance in a file of cmd/glint behind a build tag:
//
//	//go:build glint_s3
//
//	package main
//
//	import _ "gocloud.dev/blob/s3blob" // checkpoint storage on s3://bucket?region=...
//
// Then Open(ctx, "s3://bucket?region=eu-west-1&prefix=glint/checkpoints/") works. Code that
// configures a driver itself passes the bucket to New.
//
// # Tests
//
// WithFaults makes chosen writes fail (nothing lands) or tear (a truncated object lands under
// its final key), to test crash recovery; New over a shared memblob bucket simulates a
// restart with a second Store.
package checkpoint
