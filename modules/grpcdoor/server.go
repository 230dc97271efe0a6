package grpcdoor

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"strata/modules/auth"
	"strata/modules/changeset"
	"strata/modules/controlplane"
	"strata/modules/migration"
	"strata/modules/tenant"
	pb "strata/proto/strata/controlplane/v1"
)

const serviceName = "strata.controlplane.v1.ControlPlane"

// Server implements the ControlPlane service on the control plane.
type Server struct {
	pb.UnimplementedControlPlaneServer
	Fleet     *controlplane.Service
	Tenants   *tenant.Registry
	Migration *migration.Service
	// Poll is how often Migrate reads its run for progress (250ms).
	Poll time.Duration
}

func registerControlPlane(srv *grpc.Server, s *Server) { pb.RegisterControlPlaneServer(srv, s) }

func caller(ctx context.Context) string {
	if c, ok := ctx.Value(claimsKey{}).(*auth.Claims); ok {
		return c.Subject
	}
	return ""
}

func (s *Server) ListTenants(ctx context.Context, _ *pb.ListTenantsRequest) (*pb.ListTenantsResponse, error) {
	list, err := s.Tenants.List(ctx)
	if err != nil {
		return nil, err
	}
	out := &pb.ListTenantsResponse{Tenants: make([]*pb.Tenant, len(list))}
	for i, t := range list {
		out.Tenants[i] = tenantOf(t)
	}
	return out, nil
}

func (s *Server) TagTenant(ctx context.Context, req *pb.TagTenantRequest) (*pb.Tenant, error) {
	tags := req.GetTags()
	if tags == nil {
		tags = map[string]string{}
	}
	t, err := s.Fleet.TagTenant(ctx, req.GetSlug(), tags)
	if err != nil {
		return nil, err
	}
	return tenantOf(t), nil
}

func tenantOf(t *tenant.Tenant) *pb.Tenant {
	return &pb.Tenant{Id: t.ID, Slug: t.Slug, Name: t.Name, Dialect: t.Dialect, CreatedAt: timestamppb.New(t.CreatedAt), SandboxOf: t.SandboxOf, Tags: t.Tags}
}

func (s *Server) RegisterChangeset(ctx context.Context, req *pb.RegisterChangesetRequest) (*pb.RegisterChangesetResponse, error) {
	cs, err := changeset.Parse(req.GetFile(), req.GetYaml())
	if err != nil {
		return nil, err
	}
	reg, created, err := s.Fleet.Register(ctx, cs, caller(ctx))
	if err != nil {
		return nil, err
	}
	out, err := changesetOf(reg)
	if err != nil {
		return nil, err
	}
	return &pb.RegisterChangesetResponse{Changeset: out, Created: created}, nil
}

func (s *Server) ListChangesets(ctx context.Context, _ *pb.ListChangesetsRequest) (*pb.ListChangesetsResponse, error) {
	list, err := s.Fleet.List(ctx)
	if err != nil {
		return nil, err
	}
	out := &pb.ListChangesetsResponse{Changesets: make([]*pb.Changeset, len(list))}
	for i, r := range list {
		if out.Changesets[i], err = changesetOf(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Server) GetChangeset(ctx context.Context, req *pb.GetChangesetRequest) (*pb.Changeset, error) {
	r, err := s.Fleet.Get(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	return changesetOf(r)
}

func changesetOf(r *controlplane.Registered) (*pb.Changeset, error) {
	out := &pb.Changeset{Name: r.Name, Description: r.Description, Tags: r.Tags, DependsOn: r.DependsOn, UpSql: r.UpSQL, DownSql: r.DownSQL,
		Checksum: r.Checksum, RegisteredAt: timestamppb.New(r.RegisteredAt), RegisteredBy: r.RegisteredBy}
	for _, raw := range r.Changes {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("changeset %s: %w", r.Name, err)
		}
		st, err := structpb.NewStruct(m)
		if err != nil {
			return nil, fmt.Errorf("changeset %s: %w", r.Name, err)
		}
		out.Changes = append(out.Changes, st)
	}
	return out, nil
}

func requestOf(req *pb.MigrateRequest) controlplane.Request {
	out := controlplane.Request{Changesets: req.GetChangesets(), ChangesetTags: req.GetChangesetTags(), Tenants: req.GetTenants(), TenantTags: req.GetTenantTags(),
		AllTenants: req.GetAllTenants(), DryRun: req.GetDryRun(), Concurrency: int(req.GetConcurrency()), Canary: int(req.GetCanary()), NoDeps: req.GetNoDeps()}
	if req.MaxFailures != nil {
		n := int(req.GetMaxFailures())
		out.MaxFailures = &n
	}
	return out
}

func requestPB(req controlplane.Request) *pb.MigrateRequest {
	out := &pb.MigrateRequest{Changesets: req.Changesets, ChangesetTags: req.ChangesetTags, Tenants: req.Tenants, TenantTags: req.TenantTags,
		AllTenants: req.AllTenants, DryRun: req.DryRun, Concurrency: int32(req.Concurrency), Canary: int32(req.Canary), NoDeps: req.NoDeps}
	if req.MaxFailures != nil {
		n := int32(*req.MaxFailures)
		out.MaxFailures = &n
	}
	return out
}

func resultOf(r controlplane.Result) *pb.Result {
	out := &pb.Result{Tenant: r.Tenant, Changeset: r.Changeset, Status: r.Status, Error: r.Error, MigrationIds: r.MigrationIDs}
	for _, p := range r.Plan {
		out.Plan = append(out.Plan, &pb.PlannedMigration{Name: p.Name, Type: p.Type, UpSql: p.UpSQL, Destructive: p.Destructive})
	}
	return out
}

func runOf(r *controlplane.Run) *pb.Run {
	out := &pb.Run{Id: r.ID, Status: r.Status, Request: requestPB(r.Request), Error: r.Error, CreatedBy: r.CreatedBy,
		CreatedAt: timestamppb.New(r.CreatedAt), UpdatedAt: timestamppb.New(r.UpdatedAt), Counts: map[string]int32{}}
	if r.FinishedAt != nil {
		out.FinishedAt = timestamppb.New(*r.FinishedAt)
	}
	for _, res := range r.Results {
		out.Results = append(out.Results, resultOf(res))
	}
	for k, v := range r.Counts {
		out.Counts[k] = int32(v)
	}
	return out
}

// Migrate starts a run and streams it to its end (a client that goes away stops the
// stream, not the run), or answers a dry run's plan.
func (s *Server) Migrate(req *pb.MigrateRequest, stream grpc.ServerStreamingServer[pb.MigrateEvent]) error {
	ctx := stream.Context()
	r := requestOf(req)
	if r.DryRun {
		plan, err := s.Fleet.Plan(ctx, r)
		if err != nil {
			return err
		}
		out := &pb.Plan{}
		for _, res := range plan {
			out.Results = append(out.Results, resultOf(res))
		}
		return stream.Send(&pb.MigrateEvent{Event: &pb.MigrateEvent_Plan{Plan: out}})
	}
	run, err := s.Fleet.Start(ctx, r, caller(ctx))
	if err != nil {
		return err
	}
	if err := stream.Send(&pb.MigrateEvent{Event: &pb.MigrateEvent_Run{Run: runOf(run)}}); err != nil {
		return err
	}
	poll := s.Poll
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	ended, err := s.Fleet.Follow(ctx, run.ID, poll, func(r controlplane.Result) error {
		return stream.Send(&pb.MigrateEvent{Event: &pb.MigrateEvent_Progress{Progress: resultOf(r)}})
	})
	if err != nil {
		return err
	}
	return stream.Send(&pb.MigrateEvent{Event: &pb.MigrateEvent_Run{Run: runOf(ended)}})
}

func (s *Server) GetRun(ctx context.Context, req *pb.RunRef) (*pb.Run, error) {
	r, err := s.Fleet.GetRun(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return runOf(r), nil
}

func (s *Server) ListRuns(ctx context.Context, req *pb.ListRunsRequest) (*pb.ListRunsResponse, error) {
	runs, err := s.Fleet.ListRuns(ctx, int(req.GetLimit()))
	if err != nil {
		return nil, err
	}
	out := &pb.ListRunsResponse{}
	for _, r := range runs {
		out.Runs = append(out.Runs, runOf(r))
	}
	return out, nil
}

func (s *Server) steer(ctx context.Context, id, action string) (*pb.Run, error) {
	r, err := s.Fleet.Steer(ctx, id, action)
	if err != nil {
		return nil, err
	}
	return runOf(r), nil
}

func (s *Server) PauseRun(ctx context.Context, req *pb.RunRef) (*pb.Run, error) {
	return s.steer(ctx, req.GetId(), "pause")
}

func (s *Server) ResumeRun(ctx context.Context, req *pb.RunRef) (*pb.Run, error) {
	return s.steer(ctx, req.GetId(), "resume")
}

func (s *Server) CancelRun(ctx context.Context, req *pb.RunRef) (*pb.Run, error) {
	return s.steer(ctx, req.GetId(), "cancel")
}

// text is a detail value as ErrorInfo metadata holds it: strings as they are, anything
// else as JSON.
func text(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}
