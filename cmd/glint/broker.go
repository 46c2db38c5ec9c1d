package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/glintstream/glint/connector/kafka"
)

func newBrokerCmd() *cobra.Command {
	var cfg kafka.BrokerConfig
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run the embedded Kafka-protocol broker",
		Long: `Broker runs a single-node Kafka-protocol broker (franz-go's kfake) that persists its log to
a data directory and survives restarts. Any Kafka client can use it. It is meant for
development, demos and tests; use Apache Kafka or Redpanda in production.`,
		Example: `  glint broker
  glint broker --addr 127.0.0.1:19092 --data /tmp/glint-kafka --partitions 4`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := kafka.StartBroker(cfg)
			if err != nil {
				return err
			}
			defer b.Close()
			slog.Info("broker listening", "addr", b.Addr(), "data", cfg.DataDir)
			fmt.Fprintln(cmd.OutOrStdout(), b.Addr())
			<-cmd.Context().Done()
			slog.Info("broker stopping")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", kafka.DefaultBrokerAddr, "address to listen on")
	f.StringVar(&cfg.DataDir, "data", "glint-data/kafka", "data directory (empty: in memory, not persistent)")
	f.IntVar(&cfg.Partitions, "partitions", 8, "default partitions of topics created without a count")
	return cmd
}

func newTopicsCmd() *cobra.Command {
	var brokers []string
	cmd := &cobra.Command{
		Use:   "topics",
		Short: "Create, list and describe Kafka topics",
		Example: `  glint topics list
  glint topics create reactions --partitions 8
  glint topics describe reactions`,
	}
	cmd.PersistentFlags().StringSliceVar(&brokers, "brokers", []string{kafka.DefaultBrokerAddr}, "Kafka bootstrap brokers")
	admin := func(cmd *cobra.Command) (*kadm.Client, func(), error) {
		cl, err := kafka.NewClient(brokers)
		if err != nil {
			return nil, nil, err
		}
		if err := kafka.Ping(cmd.Context(), cl, brokers, 5*time.Second); err != nil {
			cl.Close()
			return nil, nil, err
		}
		return kadm.NewClient(cl), cl.Close, nil
	}
	var parts int32
	create := &cobra.Command{
		Use:     "create TOPIC...",
		Short:   "Create topics (existing ones are left alone)",
		Example: "  glint topics create reactions emoji-counts --partitions 8",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, done, err := admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			if err := kafka.EnsureTopics(cmd.Context(), adm, parts, args...); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s\n", strings.Join(args, ", "))
			return nil
		},
	}
	create.Flags().Int32Var(&parts, "partitions", 8, "partitions per topic")
	list := &cobra.Command{
		Use:     "list",
		Short:   "List topics with their partition counts",
		Example: "  glint topics list --brokers 127.0.0.1:9092",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, done, err := admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			ts, err := kafka.Topics(cmd.Context(), adm)
			if err != nil {
				return err
			}
			for _, t := range ts {
				fmt.Fprintf(cmd.OutOrStdout(), "%-40s partitions=%d\n", t.Name, t.Partitions)
			}
			return nil
		},
	}
	describe := &cobra.Command{
		Use:     "describe TOPIC...",
		Short:   "Show partitions and their start and end offsets",
		Example: "  glint topics describe reactions",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, done, err := admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			if _, err := kafka.PartitionCounts(cmd.Context(), adm, args...); err != nil {
				return err
			}
			starts, err := adm.ListStartOffsets(cmd.Context(), args...)
			if err != nil {
				return err
			}
			ends, err := adm.ListEndOffsets(cmd.Context(), args...)
			if err != nil {
				return err
			}
			for _, t := range args {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n", t)
				var total int64
				for p := int32(0); ; p++ {
					s, ok1 := starts.Lookup(t, p)
					e, ok2 := ends.Lookup(t, p)
					if !ok1 || !ok2 {
						break
					}
					total += e.Offset - s.Offset
					fmt.Fprintf(cmd.OutOrStdout(), "  partition %-3d start=%-10d end=%-10d records=%d\n", p, s.Offset, e.Offset, e.Offset-s.Offset)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "  total records=%d\n", total)
			}
			return nil
		},
	}
	cmd.AddCommand(create, list, describe)
	return cmd
}
