package registry

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Status describes one node and, through it, the cluster.
type Status struct {
	Node              string // raft server id of the node that answered
	RaftAddr          string
	APIAddr           string
	State             string // Leader, Follower, Candidate or Shutdown
	Leader            string // leader's server id; "" when none is known
	LeaderAPI         string // leader's API address, when known
	Term              uint64
	CommitIndex       uint64
	AppliedIndex      uint64
	LastSnapshotIndex uint64
	LastSnapshotTerm  uint64
	Servers           []Server // the raft configuration
	Stats                      // of the node's applied state
}

// Server is one member of the raft configuration.
type Server struct {
	ID       string
	RaftAddr string
	APIAddr  string // from the replicated address book; "" if not yet known
	Voter    bool
}

// String renders the status for people, as `glint registry status` prints it.
func (s Status) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "node:          %s (%s) raft %s api %s\n", s.Node, s.State, s.RaftAddr, s.APIAddr)
	leader := s.Leader
	if leader == "" {
		leader = "none (no quorum?)"
	} else if s.LeaderAPI != "" {
		leader += " api " + s.LeaderAPI
	}
	fmt.Fprintf(&b, "leader:        %s\n", leader)
	fmt.Fprintf(&b, "term:          %d\n", s.Term)
	fmt.Fprintf(&b, "commit index:  %d (applied %d)\n", s.CommitIndex, s.AppliedIndex)
	fmt.Fprintf(&b, "last snapshot: index %d term %d\n", s.LastSnapshotIndex, s.LastSnapshotTerm)
	fmt.Fprintf(&b, "ids held:      %d\n", s.Claims)
	fmt.Fprintf(&b, "leases:        %d open, %d expired, %d confirmed, %d orphaned\n", s.Open, s.Expired, s.Confirmed, s.Orphaned)
	if s.Clock != 0 {
		fmt.Fprintf(&b, "clock:         %s\n", time.UnixMilli(s.Clock).UTC().Format(time.RFC3339Nano))
	}
	if s.Horizon != math.MinInt64 && s.Horizon != 0 {
		fmt.Fprintf(&b, "horizon:       %s\n", time.UnixMilli(s.Horizon).UTC().Format(time.RFC3339Nano))
	}
	for _, sv := range s.Servers {
		role := "voter"
		if !sv.Voter {
			role = "nonvoter"
		}
		fmt.Fprintf(&b, "server:        %s raft %s api %s (%s)\n", sv.ID, sv.RaftAddr, sv.APIAddr, role)
	}
	return b.String()
}
