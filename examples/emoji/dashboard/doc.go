// Package dashboard is the live page of Glint's emoji demo: the part of Hotstar's pipeline where
// aggregated reactions are pushed to every viewer.
//
// A Server reads the job's output topics with franz-go, by direct partition consumption (no
// consumer group) from the start of the log or given offsets, with read_committed isolation so
// that rows of aborted transactions never show:
//
//   - emoji-counts: 2 s tumbling counts per (match_id, emoji), CountRow;
//   - emoji-mood: 10 s windows sliding by 2 s per match_id, MoodRow;
//   - emoji.dlq: dead-lettered input records with glint.reason, glint.topic, glint.partition and
//     glint.offset headers.
//
// State keeps the newest revision of every (window, match, emoji) and of every mood window
// (a late update re-emits a row with revision+1), plus latency samples, one per (match, window)
// first firing: when its first row reaches the dashboard and when it was written to Kafka,
// against its window end. With the job's max_out_of_orderness (WithMaxOutOfOrderness) the view
// shows the latency after the watermark (arrival − window end − max_out_of_orderness) and the
// delivery (arrival − Kafka timestamp); see LatencyView. A StatsFunc from the demo wiring adds
// engine numbers (input, processed and target rates, input lag, late events, watermark lag).
//
// The Server serves the page (embedded HTML, CSS and JS; no build step, no CDN), /api/state
// (the View as JSON; ?windows=all adds every retained window), and /events, a Server-Sent
// Events stream with one "state" event per push interval.
//
//	srv, err := dashboard.New(dashboard.WithBrokers(addrs...), dashboard.WithAddr("127.0.0.1:8080"),
//		dashboard.WithStats(engineStats))
//	if err != nil { ... }
//	go srv.Run(ctx) // until ctx is done
package dashboard
