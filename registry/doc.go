// Package registry is Glint's ID registry: the Raft-replicated set of claimed event ids that
// makes the Photon join exactly-once. It answers one question under every failure: has this
// event id been claimed, and by whom?
//
// # Semantics
//
// A claimant is a Token (pipeline, task, epoch). Claim(token, ids) answers each id Won, Lost
// (with the holding token) or Refused (older than the retention horizon). A token re-claiming
// an id it holds wins again, so a retried call gets the first call's answer. Claims are
// tentative until Confirm(token); Abort(token) releases them and lets the token claim afresh;
// Renew(token) extends the lease. A tentative claim whose lease runs out is released to
// others, and from then on the token's Confirm, Claim and Renew fail with ErrLeaseLost until
// the owner aborts it (and replays). Recover(pipeline, task, m) marks the claims of the task's
// epochs after checkpoint m, tentative or confirmed, as orphans: other claimants still lose to
// them, and the task's own next claims win them again, whatever epoch the replay puts them in.
// Claims are forgotten once their event time falls behind the horizon, min(newest event time,
// clock) − retention; an id older than the horizon is refused, so forgetting never lets a
// duplicate win.
//
// # Structure
//
// State is a pure state machine: Apply(entry) is deterministic in the entries applied. Time is
// the leader's clock, stamped into each raft entry (with the retention) and made monotonic in
// the state, never a node's own clock, so every replica expires the same leases at the same
// entry. Token generations carry a generation number that claims copy, so releasing a token
// (abort, expiry, recovery) is O(1) and freeing its record needs no reference counts.
//
// Claims live in one extendible hash table of 16 KB pages (table.go): a directory indexed by
// the top bits of an id's hash names its page, a linear probe in the page finds it, and a tag
// byte per slot lets probes skip other ids without reading them. A full page splits in two
// (microseconds), so the table grows without ever stalling applies. Claiming a large batch
// is bound by cache misses, one per new id: ids are looked up sixteen at a time, their first
// probes read together so the processor overlaps the misses. The pages are mapped outside the
// Go heap (arena.go, Linux; huge pages where the kernel allows), so hundreds of megabytes of
// claims neither count towards the garbage collector's heap goal nor make the process's other
// allocations come from fresh memory. Released and forgotten claims are swept a little with
// every entry; when that happens differs between replicas and no answer depends on it.
// Snapshots are taken in O(pages + tokens): the pages are shared copy-on-write with the
// snapshot writer, which streams the live claims (about 20 bytes per claim); the first write
// to a page after a snapshot copies that page, and pages copied are reused once the snapshot
// is written.
//
// Node runs the state machine under hashicorp/raft (BatchingFSM, raft-wal log and stable
// store with an in-memory log cache, file snapshots). Its proposer coalesces concurrent calls
// into raft entries Nagle-like (coalesce.go): an entry goes at once when none is in flight or
// when it is big, else it gathers calls until the one in flight returns. Light load thus
// makes one entry per commit (each entry costs a leader dispatch and an fsync on every node,
// whatever its size), heavy load keeps up to MaxInflight entries of thousands of ids in
// flight, and raft writes the entries it finds waiting together. A request that makes an
// entry alone is proposed in place (its bytes were received with room for the entry header),
// not copied. Closing a node ends every goroutine it started, raft's and the transport's
// included (see proposer and tcpLayer for how). With an API address it serves
// gRPC; a follower forwards calls to the leader, whose API address the replicated state
// records (and the node publishes as an immutable copy, so answering a call never waits for
// applies).
//
// Client (Dial) talks to a cluster: concurrent calls are coalesced into RPCs the same way,
// the leader is found and followed, failures are retried until the call's deadline (safe:
// every operation is idempotent for its token), and a call that runs out of time without a
// leader fails with ErrNoQuorum. Embedded (StartEmbedded) is a single-node registry inside
// the process, with no listener, used when a job names no registry; it implements the same
// Registry interface.
//
// # RPC stack
//
// The API is gRPC (google.golang.org/grpc, already in the module graph through iceberg-go)
// with a hand-written binary codec registered through grpc/encoding and a hand-written
// ServiceDesc: no protoc, no generated code. gRPC gives HTTP/2 multiplexing over one
// connection, deadlines and cancellation propagation, TLS and per-call credentials, and
// connection management with backoff — all maintained upstream. The codec keeps the messages
// plain Go structs, and an apply request carries ops encoded exactly as the raft log stores
// them, so the leader checks them without decoding ids and proposes the bytes as they are.
//
// # Security
//
// The API listens where Config.APIAddr says (the CLI's default is localhost). Config.TLS
// serves it over TLS; Config.AuthToken requires a shared token from every client (constant-
// time compare); nodes forward to each other with Config.PeerTLS and the same token. The raft
// transport has its own address (Config.RaftAddr) and is plain TCP: keep it on a private
// network.
//
// # Limits
//
// The registry holds its claims in memory: 33 bytes per table slot, tables at most three
// quarters full, so 44 to 88 bytes per claim (about 60 while a table grows by itself). Size the
// cluster for ids-per-second × retention, and set Config.ExpectedClaims to that: the tables
// are then made and faulted in at start, and claiming never pays for fresh memory, which on
// virtual machines costs more than the claims. While a snapshot is written the tables may
// take up to twice their memory. Ids longer than 16 bytes are hashed with IDOf (XXH3-128);
// two different ids colliding makes the second lose, with probability about n²/2¹²⁹.
package registry
