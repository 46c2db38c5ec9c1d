package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

type globals struct {
	logLevel string
	logJSON  bool
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "glint",
		Short: "Glint: a Kafka-native stream processor",
		Long: `Glint runs stream-processing jobs written as YAML files: it consumes Kafka topics in a
consumer group, decodes records, windows and aggregates them by event time with watermarks,
and writes results to Kafka. With no brokers configured it starts an embedded Kafka-protocol
broker, so a job runs on a fresh machine with nothing else installed.`,
		Example: `  glint validate examples/emoji/emoji-counts.yaml
  glint run examples/emoji/emoji-counts.yaml --until-end
  glint broker --data ./glint-data/kafka
  glint topics list`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
				lvl = slog.LevelInfo
			}
			opts := &slog.HandlerOptions{Level: lvl}
			var h slog.Handler = slog.NewTextHandler(os.Stderr, opts)
			if g.logJSON {
				h = slog.NewJSONHandler(os.Stderr, opts)
			}
			slog.SetDefault(slog.New(h))
		},
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().BoolVar(&g.logJSON, "log-json", false, "log as JSON lines")
	root.AddCommand(newRunCmd(), newValidateCmd(), newBrokerCmd(), newTopicsCmd())
	addExtraCommands(root)
	return root
}
