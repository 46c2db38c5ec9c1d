package registry

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const (
	serviceName  = "glint.registry.v1.Registry"
	methodApply  = "/" + serviceName + "/Apply"
	methodStatus = "/" + serviceName + "/Status"
	methodMember = "/" + serviceName + "/Member"

	maxMsgSize = 64 << 20

	mdForwarded = "glint-forwarded" // request header: already forwarded once, do not forward again
	mdError     = "glint-error"     // response trailer: why the call failed (see errorKinds)
	mdLeader    = "glint-leader"    // response trailer: the leader's API address, when known
)

// Values of the glint-error trailer.
const (
	kindNoQuorum  = "no-quorum"
	kindNotLeader = "not-leader"
	kindClosed    = "closed"
)

type apiServer struct{ n *Node }

// serviceDesc is written by hand (no generated code): three unary methods whose messages the
// glint-registry codec encodes.
var serviceDesc = grpc.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Apply", Handler: unary(methodApply, func(s *apiServer, ctx context.Context, req *applyRequest) (wireMsg, error) {
			return s.apply(ctx, req)
		})},
		{MethodName: "Status", Handler: unary(methodStatus, func(s *apiServer, ctx context.Context, _ *statusRequest) (wireMsg, error) {
			return &statusResponse{s: s.n.Status()}, nil
		})},
		{MethodName: "Member", Handler: unary(methodMember, func(s *apiServer, ctx context.Context, req *memberRequest) (wireMsg, error) {
			md, _ := metadata.FromIncomingContext(ctx)
			forwarded := len(md.Get(mdForwarded)) > 0
			var err error
			if req.add {
				err = s.n.addMember(ctx, req.id, req.raftAddr, req.apiAddr, forwarded)
			} else {
				err = s.n.removeMember(ctx, req.id, forwarded)
			}
			if err != nil {
				return nil, toStatus(ctx, err)
			}
			return &memberResponse{}, nil
		})},
	},
	Metadata: "registry",
}

// unary adapts a typed handler to grpc's MethodDesc handler, interceptors included.
func unary[Req any, PReq interface {
	*Req
	wireMsg
}](method string, h func(*apiServer, context.Context, PReq) (wireMsg, error)) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
		req := PReq(new(Req))
		if err := dec(req); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		s := srv.(*apiServer)
		if icpt == nil {
			return h(s, ctx, req)
		}
		info := &grpc.UnaryServerInfo{Server: srv, FullMethod: method}
		return icpt(ctx, req, info, func(ctx context.Context, r any) (any, error) { return h(s, ctx, r.(PReq)) })
	}
}

func (s *apiServer) apply(ctx context.Context, req *applyRequest) (wireMsg, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	forwarded := len(md.Get(mdForwarded)) > 0
	res, err := s.n.doRaw(ctx, req, forwarded)
	if err != nil {
		return nil, toStatus(ctx, err)
	}
	_, leader := s.n.leaderAPI()
	return &applyResponse{leader: leader, results: res}, nil
}

// toStatus turns an error into a gRPC status, with the glint-error and glint-leader trailers
// that let the client tell "no quorum" from "ask the leader over there".
func toStatus(ctx context.Context, err error) error {
	trailer := func(kind, leader string) {
		md := metadata.Pairs(mdError, kind)
		if leader != "" {
			md.Append(mdLeader, leader)
		}
		_ = grpc.SetTrailer(ctx, md)
	}
	var nl *notLeaderError
	var se interface{ GRPCStatus() *status.Status }
	switch {
	case errors.As(err, &nl):
		trailer(kindNotLeader, nl.leaderAPI)
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, ErrNoQuorum):
		trailer(kindNoQuorum, "")
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, ErrNotLeader):
		trailer(kindNotLeader, "")
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, ErrClosed):
		trailer(kindClosed, "")
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, ErrUnavailable):
		trailer(kindNotLeader, "") // the leader we forwarded to is unreachable: try others
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrCorrupt):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, ErrUnauthenticated):
		return status.Error(codes.Unauthenticated, err.Error())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return status.FromContextError(err).Err()
	case errors.As(err, &se):
		return err
	}
	return status.Error(codes.Internal, err.Error())
}

// fromStatus turns a failed call's status and trailers back into registry errors.
func fromStatus(err error, trailer metadata.MD) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	kind, leader := first(trailer.Get(mdError)), first(trailer.Get(mdLeader))
	msg := st.Message()
	switch {
	case kind == kindNoQuorum:
		return &remoteError{ErrNoQuorum, msg}
	case kind == kindNotLeader:
		return &notLeaderError{leaderAPI: leader}
	case kind == kindClosed:
		return &remoteError{ErrUnavailable, msg}
	}
	switch st.Code() {
	case codes.Unavailable:
		return &remoteError{ErrUnavailable, ErrUnavailable.Error() + ": " + msg}
	case codes.InvalidArgument:
		return &remoteError{ErrInvalid, msg}
	case codes.Unauthenticated, codes.PermissionDenied:
		return &remoteError{ErrUnauthenticated, msg}
	case codes.DeadlineExceeded:
		return fmt.Errorf("registry: %s: %w", msg, context.DeadlineExceeded)
	case codes.Canceled:
		return fmt.Errorf("registry: %s: %w", msg, context.Canceled)
	}
	return fmt.Errorf("registry: rpc failed: %w", err)
}

// remoteError is a server's error as the client sees it: the server's message, and the
// sentinel it stood for.
type remoteError struct {
	sentinel error
	msg      string
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func (n *Node) serveAPI() error {
	lis, err := net.Listen("tcp", n.cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("registry: API listen on %s: %w", n.cfg.APIAddr, err)
	}
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(maxMsgSize), grpc.MaxSendMsgSize(maxMsgSize)}
	if n.cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(n.cfg.TLS)))
	}
	if n.cfg.AuthToken != "" {
		opts = append(opts, grpc.UnaryInterceptor(authInterceptor(n.cfg.AuthToken)))
	}
	srv := grpc.NewServer(opts...)
	srv.RegisterService(&serviceDesc, &apiServer{n: n})
	n.api, n.apiLis = srv, lis
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := srv.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			n.log.Error("API server stopped", "error", err)
		}
	}()
	return nil
}

func authInterceptor(token string) grpc.UnaryServerInterceptor {
	want := []byte("Bearer " + token)
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		got := md.Get("authorization")
		if len(got) != 1 || subtle.ConstantTimeCompare([]byte(got[0]), want) != 1 {
			return nil, status.Error(codes.Unauthenticated, "registry: missing or wrong token")
		}
		return h(ctx, req)
	}
}

// tokenCreds sends the shared token with every call. It is allowed over plaintext so that a
// loopback deployment can use it without TLS; across machines, configure TLS.
type tokenCreds string

func (t tokenCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

func (tokenCreds) RequireTransportSecurity() bool { return false }

func peerDialOptions(tlsCfg *tls.Config, token string) []grpc.DialOption {
	creds := insecure.NewCredentials()
	if tlsCfg != nil {
		creds = credentials.NewTLS(tlsCfg)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsgSize), grpc.MaxCallSendMsgSize(maxMsgSize),
			grpc.CallContentSubtype(codecName)),
		// Reconnect quickly: a restarted node is back within seconds, and failover waits on it.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: time.Second,
		}),
	}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(tokenCreds(token)))
	}
	return opts
}

// peerPool holds one gRPC connection per address, dialled on first use.
type peerPool struct {
	opts []grpc.DialOption
	mu   struct {
		sync.Mutex
		conns  map[string]*grpc.ClientConn
		closed bool
	}
}

func newPeerPool(opts []grpc.DialOption) *peerPool {
	p := &peerPool{opts: opts}
	p.mu.conns = make(map[string]*grpc.ClientConn)
	return p
}

func (p *peerPool) conn(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed {
		return nil, ErrClosed
	}
	if c, ok := p.mu.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient("passthrough:///"+addr, p.opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: dial %s: %v", ErrInvalid, addr, err)
	}
	p.mu.conns[addr] = c
	return c, nil
}

// invoke calls method on addr, marked as forwarded (a node calling a node): the callee must
// not forward it again.
func (p *peerPool) invoke(ctx context.Context, addr, method string, req, resp wireMsg) error {
	return p.call(metadata.AppendToOutgoingContext(ctx, mdForwarded, "1"), addr, method, req, resp)
}

func (p *peerPool) call(ctx context.Context, addr, method string, req, resp wireMsg) error {
	c, err := p.conn(addr)
	if err != nil {
		return err
	}
	var trailer metadata.MD
	if err := c.Invoke(ctx, method, req, resp, grpc.Trailer(&trailer)); err != nil {
		return fromStatus(err, trailer)
	}
	return nil
}

func (p *peerPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.closed = true
	for _, c := range p.mu.conns {
		c.Close()
	}
	p.mu.conns = nil
}
