package kafka

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// BrokerConfig configures the embedded broker.
type BrokerConfig struct {
	// Addr is host:port to listen on. Port 0 picks a free port. Default 127.0.0.1:9092.
	Addr string
	// DataDir persists the log across restarts. Empty keeps everything in memory (slower, and
	// gone at exit): use a directory for anything real.
	DataDir string
	// Partitions is the default partition count of topics created without one. Default 8.
	Partitions int
	Logger     *slog.Logger
}

// Broker is a running embedded Kafka-protocol broker (one node). Close stops it and syncs its
// data directory.
type Broker struct {
	c    *kfake.Cluster
	addr string
}

// DefaultBrokerAddr is where `glint broker` listens by default.
const DefaultBrokerAddr = "127.0.0.1:9092"

// StartBroker starts the embedded broker.
func StartBroker(cfg BrokerConfig) (*Broker, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultBrokerAddr
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 8
	}
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("kafka: broker address %q: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("kafka: broker address %q: bad port", cfg.Addr)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DefaultNumPartitions(cfg.Partitions),
		// Jobs may set group.session_timeout down to 1s (Kafka's default minimum is 6s).
		kfake.GroupMinSessionTimeout(time.Second),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}),
	}
	if port != 0 {
		opts = append(opts, kfake.Ports(port))
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("kafka: broker data directory: %w", err)
		}
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: start embedded broker on %s: %w", cfg.Addr, err)
	}
	return &Broker{c: c, addr: c.ListenAddrs()[0]}, nil
}

// Addr returns the address clients connect to.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker.
func (b *Broker) Close() { b.c.Close() }
