package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrNoBrokers is returned when none of the configured brokers answers.
var ErrNoBrokers = errors.New("kafka: no broker reachable")

// NewClient returns a franz-go client for brokers with Glint's defaults plus opts.
func NewClient(brokers []string, opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ClientID("glint")}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka: client for %v: %w", brokers, err)
	}
	return cl, nil
}

// Ping checks that a broker answers within timeout, with an error naming the brokers.
func Ping(ctx context.Context, cl *kgo.Client, brokers []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		return fmt.Errorf("%w at %v within %s (is Kafka running there? without brokers in the job or --brokers, glint starts its own): %v",
			ErrNoBrokers, brokers, timeout, err)
	}
	return nil
}

// TopicInfo describes a topic.
type TopicInfo struct {
	Name       string
	Partitions int32
	Replicas   int
	EndOffsets map[int32]int64
}

// Topics lists the topics (internal ones excluded), sorted by name.
func Topics(ctx context.Context, adm *kadm.Client) ([]TopicInfo, error) {
	td, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("kafka: list topics: %w", err)
	}
	var out []TopicInfo
	for _, t := range td.Sorted() {
		if t.IsInternal {
			continue
		}
		ti := TopicInfo{Name: t.Topic, Partitions: int32(len(t.Partitions))}
		for _, p := range t.Partitions {
			ti.Replicas = max(ti.Replicas, len(p.Replicas))
		}
		out = append(out, ti)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// PartitionCounts returns the partition count of each topic; a missing topic is an error
// naming it.
func PartitionCounts(ctx context.Context, adm *kadm.Client, topics ...string) (map[string]int32, error) {
	td, err := adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("kafka: describe topics %v: %w", topics, err)
	}
	out := make(map[string]int32, len(topics))
	var missing []string
	for _, t := range topics {
		d, ok := td[t]
		if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			missing = append(missing, t)
			continue
		}
		if d.Err != nil {
			return nil, fmt.Errorf("kafka: topic %q: %w", t, d.Err)
		}
		out[t] = int32(len(d.Partitions))
	}
	if len(missing) > 0 {
		return out, &MissingTopicsError{Topics: missing}
	}
	return out, nil
}

// MissingTopicsError names topics that do not exist.
type MissingTopicsError struct{ Topics []string }

func (e *MissingTopicsError) Error() string {
	return fmt.Sprintf("kafka: topic(s) %v do not exist (create them with `glint topics create NAME --partitions N`)", e.Topics)
}

// EnsureTopics creates each topic that does not exist with the given partition count. Existing
// topics are left as they are.
func EnsureTopics(ctx context.Context, adm *kadm.Client, partitions int32, topics ...string) error {
	if len(topics) == 0 {
		return nil
	}
	resp, err := adm.CreateTopics(ctx, partitions, -1, nil, topics...)
	if err != nil {
		return fmt.Errorf("kafka: create topics %v: %w", topics, err)
	}
	for _, r := range resp.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("kafka: create topic %q: %w", r.Topic, r.Err)
		}
	}
	return nil
}

// EndOffsets returns the last stable offset (the end a read_committed reader sees) of every
// partition of topics.
func EndOffsets(ctx context.Context, adm *kadm.Client, topics ...string) (map[string]map[int32]int64, error) {
	lo, err := adm.ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("kafka: end offsets of %v: %w", topics, err)
	}
	out := map[string]map[int32]int64{}
	var ferr error
	lo.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			ferr = fmt.Errorf("kafka: end offset of %s[%d]: %w", o.Topic, o.Partition, o.Err)
			return
		}
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.Offset
	})
	return out, ferr
}
