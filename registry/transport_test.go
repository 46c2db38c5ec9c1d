package registry

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestTCPLayerCloseClosesConnections: closing the layer closes the connections it accepted
// and the ones it dialed, so whatever blocks reading them, here or at the peer, returns.
func TestTCPLayerCloseClosesConnections(t *testing.T) {
	a, err := newTCPLayer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := newTCPLayer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// b dials a (b's dialed connection), and a accepts it.
	dialed, err := b.Dial(raft.ServerAddress(a.Addr().String()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	accepted, err := a.Accept()
	if err != nil {
		t.Fatal(err)
	}
	// A peer dials b, and b accepts it.
	peer, err := net.Dial("tcp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	inbound, err := b.Accept()
	if err != nil {
		t.Fatal(err)
	}

	b.Close()
	buf := make([]byte, 1)
	// Both ends of both connections see them closed.
	if _, err := accepted.Read(buf); err != io.EOF {
		t.Fatalf("a's end of b's dialed connection: read %v, want EOF", err)
	}
	if _, err := peer.Read(buf); err != io.EOF {
		t.Fatalf("the peer's end of b's accepted connection: read %v, want EOF", err)
	}
	for _, c := range []net.Conn{dialed, inbound} {
		if _, err := c.Read(buf); err == nil {
			t.Fatal("b's connection still reads after Close")
		}
	}
	if _, err := b.Dial(raft.ServerAddress(a.Addr().String()), time.Second); err == nil {
		t.Fatal("dialing through a closed layer succeeded")
	}
	if len(a.mu.conns) != 1 {
		t.Fatalf("a tracks %d connections, want 1", len(a.mu.conns))
	}
	accepted.Close()
	if len(a.mu.conns) != 0 {
		t.Fatalf("a still tracks %d connections after closing them", len(a.mu.conns))
	}
}

func TestTCPLayerNeedsAdvertisableAddress(t *testing.T) {
	if l, err := newTCPLayer("0.0.0.0:0"); err == nil {
		l.Close()
		t.Fatal("0.0.0.0 accepted as an address other nodes can reach")
	}
}
