// Package gen generates the emoji-reaction workload of Glint's flagship demo, modelled on
// Disney+ Hotstar's live-cricket reactions: viewers of several concurrent matches tap emoji,
// a Go API batches the taps into Kafka, and a stream job aggregates them every 2 seconds.
//
// The package has three parts:
//
//   - Generator, a pure, seeded state machine. Each Append call produces one event (about 100
//     bytes of JSON) as it arrives at the API at a time the caller supplies; nothing inside reads
//     the wall clock. Emoji popularity is Zipf-skewed with a per-match twist, and a seeded
//     timeline of match moments (a six, a four, a wicket, a milestone, a dropped catch) makes
//     the matching emoji spike. Client timestamps (field ts) lag the arrival time by a network
//     delay bounded by Config.MaxDelay, except for a small fraction of late events; a small
//     fraction of events is sent twice (same bytes, same event_id) and a small fraction is
//     malformed (truncated JSON, missing ts, ts as a string). Everything is a function of the
//     seed and of the sequence of times passed to Append.
//   - Expected, an independent tally of what a Generator emitted, built from the Meta each
//     Append returns rather than from the bytes: counts per (2 s window, match, emoji), mood
//     per (10 s window sliding by 2 s, match), and the malformed records. Tests compare a
//     job's output, or the records read back from Kafka, against it.
//   - Producer, the IO edge: it runs a Generator at a configured rate against Kafka with
//     franz-go, batching as Hotstar's API did (a batch goes out every 500 ms or at 20 000
//     events, whichever comes first), keyed by match_id so a match stays on one partition.
//
// Lateness guarantee: a record the Generator does not mark Late was sent at most
// Config.MaxDelay after its ts. Written in order to a partition by one Producer, such a record
// is never behind a watermark of max-event-time-minus-MaxDelay (or more), so a job whose
// max_out_of_orderness is at least MaxDelay counts every non-Late event in its first firing.
// Late events may or may not be behind the watermark; that depends on the job's settings.
package gen
