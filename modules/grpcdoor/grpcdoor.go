// Package grpcdoor is the control plane's gRPC door: the service of
// proto/strata/controlplane/v1 over the same control plane the HTTP routes use, with the
// same answers and errors, plus the standard health and reflection services so that a
// stock grpcurl works against it.
package grpcdoor

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"strata/modules/apierr"
	"strata/modules/auth"
)

// Limits of the gRPC listener.
const (
	maxMessage = 4 << 20
	maxStreams = 100
)

// New makes the gRPC server: the control plane behind platform admin authentication,
// health and reflection. translate maps service errors onto the contract's (as the
// HTTP door does).
func New(cp *Server, a *auth.Service, translate func(error) error, log *slog.Logger) *grpc.Server {
	g := &gate{auth: a, translate: translate, log: log}
	srv := grpc.NewServer(
		grpc.MaxRecvMsgSize(maxMessage),
		grpc.MaxSendMsgSize(maxMessage),
		grpc.MaxConcurrentStreams(maxStreams),
		grpc.ChainUnaryInterceptor(g.unary),
		grpc.ChainStreamInterceptor(g.stream),
	)
	registerControlPlane(srv, cp)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(serviceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	return srv
}

// Serve serves srv on addr until ctx ends, then stops it gracefully (bounded).
func Serve(ctx context.Context, srv *grpc.Server, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		done := make(chan struct{})
		go func() { srv.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			srv.Stop()
		}
	}()
	return srv.Serve(ln)
}

// gate lets in platform admins (the health and reflection services are open, as
// probes and grpcurl use them before any token), and turns errors into the contract's.
type gate struct {
	auth      *auth.Service
	translate func(error) error
	log       *slog.Logger
}

func open(method string) bool {
	return strings.HasPrefix(method, "/grpc.health.") || strings.HasPrefix(method, "/grpc.reflection.")
}

type claimsKey struct{}

func (g *gate) admit(ctx context.Context, method string) (context.Context, error) {
	if open(method) {
		return ctx, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	var tok string
	for _, v := range md.Get("authorization") {
		if t, ok := strings.CutPrefix(v, "Bearer "); ok {
			tok = strings.TrimSpace(t)
		}
	}
	if keys := md.Get("x-api-key"); tok == "" && len(keys) > 0 {
		tok = strings.TrimSpace(keys[0])
	}
	if tok == "" {
		return nil, g.toStatus(apierr.Unauthorized("INVALID_CREDENTIALS", "authentication required: metadata authorization: Bearer <token or platform key>, or x-api-key: <platform key>"))
	}
	claims, err := g.auth.PlatformAdmin(ctx, tok)
	if err != nil {
		return nil, g.toStatus(err)
	}
	return context.WithValue(ctx, claimsKey{}, claims), nil
}

func (g *gate) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	ctx, err = g.admit(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	defer g.recover(info.FullMethod, &err)
	resp, err = handler(ctx, req)
	return resp, g.answer(info.FullMethod, err)
}

func (g *gate) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	ctx, err := g.admit(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	defer g.recover(info.FullMethod, &err)
	return g.answer(info.FullMethod, handler(srv, &admitted{ServerStream: ss, ctx: ctx}))
}

type admitted struct {
	grpc.ServerStream
	ctx context.Context
}

func (a *admitted) Context() context.Context { return a.ctx }

func (g *gate) recover(method string, err *error) {
	if x := recover(); x != nil {
		g.log.Error("grpc: panic", "method", method, "panic", x)
		*err = status.Error(codes.Internal, "an internal error occurred")
	}
}

// answer is a handler's error as the client gets it.
func (g *gate) answer(method string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	st := g.toStatus(err)
	if status.Code(st) == codes.Internal {
		g.log.Error("grpc: internal error", "method", method, "err", err)
	}
	return st
}

// toStatus is an error as gRPC says it: the HTTP status's code, the contract's code as
// the reason of an ErrorInfo, its extensions as metadata.
func (g *gate) toStatus(err error) error {
	if g.translate != nil {
		err = g.translate(err)
	}
	var ae *apierr.Error
	if !errors.As(err, &ae) || ae.Status == 500 {
		return status.Error(codes.Internal, "an internal error occurred")
	}
	return statusOf(ae)
}

func statusOf(ae *apierr.Error) error {
	st := status.New(codeOf(ae), ae.Message)
	info := &errdetails.ErrorInfo{Reason: ae.Code, Domain: "strata", Metadata: map[string]string{"http_status": strconv.Itoa(ae.Status)}}
	for k, v := range ae.Details {
		info.Metadata[k] = text(v)
	}
	if withInfo, err := st.WithDetails(info); err == nil {
		st = withInfo
	}
	return st.Err()
}

func codeOf(ae *apierr.Error) codes.Code {
	switch ae.Status {
	case 400, 413:
		return codes.InvalidArgument
	case 422:
		return codes.FailedPrecondition
	case 401:
		return codes.Unauthenticated
	case 403:
		return codes.PermissionDenied
	case 404:
		return codes.NotFound
	case 409:
		if ae.Code == "CHECKSUM_MISMATCH" {
			return codes.AlreadyExists
		}
		return codes.FailedPrecondition
	case 429:
		return codes.ResourceExhausted
	case 503:
		return codes.Unavailable
	case 504:
		return codes.DeadlineExceeded
	}
	return codes.Internal
}
