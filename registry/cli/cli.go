package registrycli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/glintstream/glint/registry"
)

// NewCommand returns `glint registry`: it runs a registry node, and its subcommands add and
// remove members and show a node's status.
func NewCommand() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Run a node of the Raft-replicated ID registry used by exactly-once joins",
		Long: `Run one node of the ID registry: the Raft-replicated set of claimed event ids that
makes the join exactly-once. Run 1, 3 or 5 nodes. The first node of a new cluster starts with
--bootstrap; the others start with --join pointing at any member's API address. A node
restarted on its data directory rejoins by itself (--bootstrap and --join are then ignored).

The API (gRPC) listens on localhost unless --api says otherwise; the Raft transport uses its
own address (--raft). Clients may be required to present a shared token (--token-file), and
the API may serve TLS (--tls-cert, --tls-key; --tls-ca is how nodes verify each other when
forwarding calls to the leader).`,
		Example: `  # a three-node cluster on one machine
  glint registry --id n1 --raft 127.0.0.1:7001 --api 127.0.0.1:7101 --data /var/lib/glint/n1 --bootstrap
  glint registry --id n2 --raft 127.0.0.1:7002 --api 127.0.0.1:7102 --data /var/lib/glint/n2 --join 127.0.0.1:7101
  glint registry --id n3 --raft 127.0.0.1:7003 --api 127.0.0.1:7103 --data /var/lib/glint/n3 --join 127.0.0.1:7101

  # what the cluster looks like
  glint registry status --addrs 127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: false,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServer(ctx, cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.id, "id", "", "this node's Raft server id, unique in the cluster (required)")
	fl.StringVar(&f.raft, "raft", "127.0.0.1:7001", "Raft transport address (bind and advertise)")
	fl.StringVar(&f.api, "api", "127.0.0.1:7101", "API listen address (gRPC); localhost unless you mean otherwise")
	fl.StringVar(&f.data, "data", "", "data directory: Raft log, snapshots (required)")
	fl.BoolVar(&f.bootstrap, "bootstrap", false, "start a new cluster with this node as its only member")
	fl.StringSliceVar(&f.join, "join", nil, "API address(es) of existing members to ask for admission")
	fl.DurationVar(&f.retention, "retention", 7*24*time.Hour, "event time to keep claims for; older ids are refused (0 keeps forever)")
	fl.DurationVar(&f.heartbeat, "heartbeat-timeout", time.Second, "Raft heartbeat timeout")
	fl.DurationVar(&f.election, "election-timeout", time.Second, "Raft election timeout")
	fl.DurationVar(&f.leaderLease, "leader-lease-timeout", 500*time.Millisecond, "Raft leader lease (at most the heartbeat timeout)")
	fl.Uint64Var(&f.snapshotThreshold, "snapshot-threshold", 65536, "Raft entries between snapshots")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "serve the API over TLS with this certificate (PEM)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "private key of --tls-cert (PEM)")
	fl.StringVar(&f.tlsCA, "tls-ca", "", "CA certificate (PEM) that signs the nodes' API certificates, for forwarding")
	fl.StringVar(&f.tokenFile, "token-file", "", "file holding the shared client token (or set GLINT_REGISTRY_TOKEN)")
	fl.StringVar(&f.logLevel, "log-level", "warn", "log level: trace, debug, info, warn, error")
	cmd.AddCommand(newAddCommand(), newRemoveCommand(), newStatusCommand())
	return cmd
}

type serverFlags struct {
	id, raft, api, data               string
	bootstrap                         bool
	join                              []string
	retention                         time.Duration
	heartbeat, election, leaderLease  time.Duration
	snapshotThreshold                 uint64
	tlsCert, tlsKey, tlsCA, tokenFile string
	logLevel                          string
}

func runServer(ctx context.Context, cmd *cobra.Command, f *serverFlags) error {
	var errs []error
	if f.id == "" {
		errs = append(errs, errors.New("--id is required"))
	}
	if f.data == "" {
		errs = append(errs, errors.New("--data is required"))
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	token, err := readToken(f.tokenFile)
	errs = append(errs, err)
	cfg := registry.Config{
		ID: f.id, RaftAddr: f.raft, APIAddr: f.api, DataDir: f.data, Bootstrap: f.bootstrap, Join: f.join,
		Retention: f.retention, HeartbeatTimeout: f.heartbeat, ElectionTimeout: f.election,
		LeaderLeaseTimeout: f.leaderLease, SnapshotThreshold: f.snapshotThreshold,
		AuthToken: token, LogOutput: cmd.ErrOrStderr(), LogLevel: f.logLevel,
	}
	if f.tlsCert != "" && f.tlsKey != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			errs = append(errs, fmt.Errorf("--tls-cert/--tls-key: %w", err))
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if f.tlsCA != "" {
		pool, err := loadCA(f.tlsCA)
		errs = append(errs, err)
		cfg.PeerTLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	n, err := registry.StartNode(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "registry node %s: raft %s, api %s, data %s\n", f.id, n.RaftAddr(), n.APIAddr(), f.data)
	<-ctx.Done()
	return n.Close()
}

func readToken(file string) (string, error) {
	if file == "" {
		return os.Getenv("GLINT_REGISTRY_TOKEN"), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("--token-file %s is empty", file)
	}
	return tok, nil
}

func loadCA(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tls-ca %s: no PEM certificate", file)
	}
	return pool, nil
}

// clientFlags are the flags of subcommands that talk to a running cluster.
type clientFlags struct {
	addrs     []string
	tlsCA     string
	tokenFile string
	timeout   time.Duration
}

func (c *clientFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVar(&c.addrs, "addrs", []string{"127.0.0.1:7101"}, "API address(es) of cluster members")
	fl.StringVar(&c.tlsCA, "tls-ca", "", "CA certificate (PEM) to verify the API's TLS certificate; enables TLS")
	fl.StringVar(&c.tokenFile, "token-file", "", "file holding the shared client token (or set GLINT_REGISTRY_TOKEN)")
	fl.DurationVar(&c.timeout, "timeout", 10*time.Second, "give up after this long")
}

func (c *clientFlags) dial() (*registry.Client, error) {
	var opts []registry.Option
	token, err := readToken(c.tokenFile)
	if err != nil {
		return nil, err
	}
	if token != "" {
		opts = append(opts, registry.WithAuthToken(token))
	}
	if c.tlsCA != "" {
		pool, err := loadCA(c.tlsCA)
		if err != nil {
			return nil, err
		}
		opts = append(opts, registry.WithTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	}
	return registry.Dial(c.addrs, append(opts, registry.WithCallTimeout(c.timeout))...)
}

func newAddCommand() *cobra.Command {
	var c clientFlags
	var id, raftAddr, apiAddr string
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Add a voting member to the registry cluster",
		Long: `Add a node to the cluster's Raft configuration as a voter. The node must be running
(started without --bootstrap); a node started with --join adds itself, so this is for nodes
started with neither.`,
		Example: `  glint registry add --id n4 --raft 127.0.0.1:7004 --api 127.0.0.1:7104 --addrs 127.0.0.1:7101`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" || raftAddr == "" {
				return errors.New("--id and --raft are required")
			}
			cl, err := c.dial()
			if err != nil {
				return err
			}
			defer cl.Close()
			if err := cl.AddVoter(cmd.Context(), id, raftAddr, apiAddr); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added %s (raft %s, api %s)\n", id, raftAddr, apiAddr)
			return nil
		},
	}
	c.register(cmd)
	cmd.Flags().StringVar(&id, "id", "", "the new member's Raft server id (required)")
	cmd.Flags().StringVar(&raftAddr, "raft", "", "the new member's Raft address (required)")
	cmd.Flags().StringVar(&apiAddr, "api", "", "the new member's API address, for forwarding and clients")
	return cmd
}

func newRemoveCommand() *cobra.Command {
	var c clientFlags
	var id string
	cmd := &cobra.Command{
		Use:   "remove",
		Short: "Remove a member from the registry cluster",
		Long: `Remove a node from the cluster's Raft configuration. Remove a failed node before
adding its replacement, so the cluster's majority is counted over live nodes.`,
		Example: `  glint registry remove --id n3 --addrs 127.0.0.1:7101,127.0.0.1:7102`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" {
				return errors.New("--id is required")
			}
			cl, err := c.dial()
			if err != nil {
				return err
			}
			defer cl.Close()
			if err := cl.RemoveServer(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", id)
			return nil
		},
	}
	c.register(cmd)
	cmd.Flags().StringVar(&id, "id", "", "the member's Raft server id (required)")
	return cmd
}

func newStatusCommand() *cobra.Command {
	var c clientFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the leader, term, commit index, ids held, last snapshot and lease counts",
		Long: `Show the status of the registry as the leader sees it (or, without a leader, as the
first node that answers sees it): Raft state, term, commit and applied index, last snapshot,
ids stored, token leases by state, the retention horizon and the members.`,
		Example: `  glint registry status --addrs 127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103
  glint registry status --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.dial()
			if err != nil {
				return err
			}
			defer cl.Close()
			st, err := cl.Status(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), st.String())
			return err
		},
	}
	c.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
