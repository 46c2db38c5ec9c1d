package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/glintstream/glint/examples/emoji"
)

func newDemoCmd() *cobra.Command {
	demo := &cobra.Command{
		Use:   "demo",
		Short: "Run a built-in demo",
	}
	var o emoji.Options
	em := &cobra.Command{
		Use:   "emoji",
		Short: "Live emoji-reaction aggregation for cricket matches, with a dashboard",
		Long: `The emoji demo, after Disney+ Hotstar's: a generator sends emoji reactions of viewers of
several concurrent matches to the Kafka topic "reactions" (batched as Hotstar's API did); two
Glint jobs count them per (match, emoji) every 2 seconds of event time and compute a sliding
10 s mood per match; a dashboard at http://127.0.0.1:8080 shows the results live.

With no --brokers it starts an embedded Kafka broker. With --duration it generates for that
long, fires every window, checks the jobs' output against the generator's own count, prints
the result and what it measured (produced and processed rates, the lag when generation
stopped, latency after the watermark) and exits (non-zero if the output differs). --ceiling N
first measures, on the same broker, the producer alone writing N reactions flat out and the
jobs alone reading them, to compare the rates against.`,
		Example: `  glint demo emoji
  glint demo emoji --rate 200000 --matches 8
  glint demo emoji --duration 30s
  glint demo emoji --rate 200000 --duration 30s --ceiling 2000000
  glint demo emoji --brokers kafka:9092 --addr 0.0.0.0:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Logger = slog.Default()
			o.Out = cmd.OutOrStdout()
			_, err := emoji.Run(cmd.Context(), o)
			return err
		},
	}
	f := em.Flags()
	f.Float64Var(&o.Rate, "rate", 20_000, "reactions per second")
	f.IntVar(&o.Matches, "matches", 4, "concurrent matches (1-99)")
	f.DurationVar(&o.Duration, "duration", 0, "generate this long, then drain, verify and exit (0: until Ctrl-C)")
	f.DurationVar(&o.WarmUp, "warm-up", 0, "left out of the latency figures (default 5s, at most a quarter of --duration)")
	f.Int64Var(&o.Ceiling, "ceiling", 0, "with --duration: first measure the ceilings with this many reactions (producer alone, jobs alone)")
	f.StringVar(&o.Addr, "addr", "127.0.0.1:8080", "dashboard address")
	f.StringSliceVar(&o.Brokers, "brokers", nil, "Kafka brokers (default: an embedded broker)")
	f.StringVar(&o.DataDir, "data", "", "embedded broker data directory (default: a temporary one)")
	f.Uint64Var(&o.Seed, "seed", 1, "generator seed")
	demo.AddCommand(em)
	return demo
}
