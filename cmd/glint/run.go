package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/glintstream/glint/pipeline"
)

func newRunCmd() *cobra.Command {
	var opts pipeline.RunOptions
	cmd := &cobra.Command{
		Use:   "run JOB.yaml",
		Short: "Run a job until interrupted, or to the end of its input with --until-end",
		Long: `Run compiles the job file and runs it. Workers of the same job (same name) share its
partitions through a Kafka consumer group: start more to scale out. SIGINT or SIGTERM stops
cleanly: what was fetched is processed, the sinks are flushed, a job with checkpoints takes a
last one (committing its transactions), and offsets are committed. A second signal ends the
process at once.

With checkpoints, each task restores from its newest complete checkpoint when it starts;
--from-checkpoint restores from checkpoints kept elsewhere instead (like Flink's run -s).

With --until-end the job reads every partition from its start position to the end offset it
has when the run starts, fires every window (the watermark becomes +inf) and exits 0.

With no brokers in the job or on the command line, glint uses a broker listening on
127.0.0.1:9092 or starts the embedded one there.`,
		Example: `  glint run job.yaml
  glint run job.yaml --until-end
  glint run job.yaml --brokers kafka1:9092,kafka2:9092 --metrics 127.0.0.1:9300
  glint run job.yaml --from-checkpoint /backups/checkpoints-monday`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			job, err := pipeline.Load(args[0])
			if err != nil {
				return err
			}
			env := pipeline.NewEnv()
			env.Logger = slog.Default()
			opts.Stdout = cmd.OutOrStdout()
			if err := pipeline.Run(cmd.Context(), env, job, opts); err != nil {
				return fmt.Errorf("job %s: %w", job.Name, err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&opts.Brokers, "brokers", nil, "Kafka bootstrap brokers (overrides the job's)")
	f.BoolVar(&opts.UntilEnd, "until-end", false, "read inputs to their current end, fire every window and exit")
	f.StringVar(&opts.DataDir, "data", "", "embedded broker data directory (default ./glint-data/kafka)")
	f.StringVar(&opts.FromCheckpoint, "from-checkpoint", "", "restore each task from the newest complete checkpoint in this storage (directory or URL) instead of the job's")
	f.StringVar(&opts.MetricsListen, "metrics", "", `Prometheus metrics address (overrides the job's; "off" disables)`)
	return cmd
}

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate JOB.yaml...",
		Short: "Check job files and report every problem with file:line:column",
		Long: `Validate decodes and compiles each job file without running it, and reports every problem
at once: unknown fields (with a "did you mean"), wrong types, unknown columns, invalid
expressions, windows that need a repartition. It exits non-zero on any problem.`,
		Example: `  glint validate job.yaml
  glint validate examples/*/*.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env := pipeline.NewEnv()
			var all error
			for _, a := range args {
				job, err := pipeline.Load(a)
				if err == nil {
					_, err = pipeline.Compile(job, env)
				}
				if err != nil {
					all = joinProblems(all, err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", a)
			}
			return all
		},
	}
}
