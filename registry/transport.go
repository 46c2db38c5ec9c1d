package registry

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// tcpLayer is raft's TCP stream layer, but closing it also closes every connection it dialed
// or accepted. Raft's NetworkTransport.Close only closes the listener: a goroutine serving an
// accepted connection stays blocked reading it until the peer closes its end, and the peer
// keeps idle connections pooled as long as it runs (forever, if it closed without closing
// them). Closing both ends when a node closes ends those goroutines at once.
type tcpLayer struct {
	lis       net.Listener
	advertise net.Addr
	mu        struct {
		sync.Mutex
		closed bool
		conns  map[*trackedConn]struct{}
	}
}

var _ raft.StreamLayer = (*tcpLayer)(nil)

func newTCPLayer(bind string) (*tcpLayer, error) {
	lis, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	if a, ok := lis.Addr().(*net.TCPAddr); !ok || a.IP == nil || a.IP.IsUnspecified() {
		lis.Close()
		return nil, fmt.Errorf("%s is not an address other nodes can reach: name one interface", bind)
	}
	l := &tcpLayer{lis: lis, advertise: lis.Addr()}
	l.mu.conns = make(map[*trackedConn]struct{})
	return l, nil
}

func (l *tcpLayer) Addr() net.Addr { return l.advertise }

func (l *tcpLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil {
		return nil, err
	}
	return l.track(c)
}

func (l *tcpLayer) Accept() (net.Conn, error) {
	c, err := l.lis.Accept()
	if err != nil {
		return nil, err
	}
	return l.track(c)
}

// errLayerClosed: a connection made while the layer closed, closed at once.
var errLayerClosed = errors.New("registry: raft transport closed")

func (l *tcpLayer) track(c net.Conn) (net.Conn, error) {
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		c.Close()
		return nil, errLayerClosed
	}
	l.mu.conns[tc] = struct{}{}
	return tc, nil
}

// Close closes the listener and every open connection.
func (l *tcpLayer) Close() error {
	err := l.lis.Close()
	l.mu.Lock()
	l.mu.closed = true
	conns := l.mu.conns
	l.mu.conns = nil
	l.mu.Unlock()
	for c := range conns {
		c.Conn.Close()
	}
	return err
}

// trackedConn forgets itself when closed, so the layer holds only open connections.
type trackedConn struct {
	net.Conn
	l *tcpLayer
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.mu.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}
