package grpcdoor

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"strata/modules/apierr"
	"strata/modules/migration"
	"strata/modules/query"
	pb "strata/proto/strata/controlplane/v1"
	"strata/schema"
)

// target opens a tenant for the migration service, as the HTTP door does.
func (s *Server) target(ctx context.Context, slug string) (migration.Target, error) {
	_, tgt, err := s.Tenants.Open(ctx, slug)
	return tgt, err
}

func (s *Server) ListMigrations(ctx context.Context, req *pb.ListMigrationsRequest) (*pb.ListMigrationsResponse, error) {
	limit, page := int(req.GetLimit()), int(req.GetPage())
	if limit == 0 {
		limit = 100
	}
	if page == 0 {
		page = 1
	}
	switch {
	case limit < 1 || limit > 1000:
		return nil, apierr.InvalidQuery("limit", "limit must be between 1 and 1000")
	case page < 1 || page-1 > query.MaxOffset/limit:
		return nil, apierr.InvalidQuery("page", "page must be an integer from 1 to %d", query.MaxOffset/limit+1)
	case req.GetStatus() != "" && !slices.Contains(migration.Statuses, req.GetStatus()):
		return nil, apierr.InvalidQuery("status", "status must be one of %s", strings.Join(migration.Statuses, ", "))
	case req.GetType() != "" && !slices.Contains(migration.Types, req.GetType()):
		return nil, apierr.InvalidQuery("type", "type must be one of %s", strings.Join(migration.Types, ", "))
	}
	tgt, err := s.target(ctx, req.GetTenant())
	if err != nil {
		return nil, err
	}
	list, total, err := migration.List(ctx, tgt.DB, tgt.Dialect, migration.ListFilter{Status: req.GetStatus(), Type: req.GetType(), Limit: limit, Page: page})
	if err != nil {
		return nil, err
	}
	out := &pb.ListMigrationsResponse{Total: int32(total)}
	for i := range list {
		m, err := migrationOf(&list[i])
		if err != nil {
			return nil, err
		}
		out.Migrations = append(out.Migrations, m)
	}
	return out, nil
}

func (s *Server) GetMigration(ctx context.Context, req *pb.MigrationRef) (*pb.Migration, error) {
	tgt, err := s.target(ctx, req.GetTenant())
	if err != nil {
		return nil, err
	}
	if !schema.IsUUID(req.GetId()) {
		return nil, apierr.NotFound("migration %q not found", req.GetId())
	}
	m, err := migration.Get(ctx, tgt.DB, tgt.Dialect, req.GetId())
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, apierr.NotFound("migration %q not found", req.GetId())
	}
	return migrationOf(m)
}

// act runs an action on one migration of a tenant.
func (s *Server) act(ctx context.Context, req *pb.MigrationRef, run func(migration.Target, string) (*migration.Migration, error)) (*pb.Migration, error) {
	if !schema.IsUUID(req.GetId()) {
		return nil, apierr.NotFound("migration %q not found", req.GetId())
	}
	tgt, err := s.target(ctx, req.GetTenant())
	if err != nil {
		return nil, err
	}
	m, err := run(tgt, req.GetId())
	if err != nil {
		return nil, err
	}
	return migrationOf(m)
}

func (s *Server) RetryMigration(ctx context.Context, req *pb.MigrationRef) (*pb.Migration, error) {
	return s.act(ctx, req, func(t migration.Target, id string) (*migration.Migration, error) {
		return s.Migration.Retry(ctx, t, id, caller(ctx))
	})
}

func (s *Server) ApproveMigration(ctx context.Context, req *pb.MigrationRef) (*pb.Migration, error) {
	return s.act(ctx, req, func(t migration.Target, id string) (*migration.Migration, error) {
		return s.Migration.Approve(ctx, t, id, caller(ctx))
	})
}

func (s *Server) RejectMigration(ctx context.Context, req *pb.MigrationRef) (*pb.Migration, error) {
	return s.act(ctx, req, func(t migration.Target, id string) (*migration.Migration, error) {
		return s.Migration.Reject(ctx, t, id)
	})
}

func (s *Server) RollbackMigration(ctx context.Context, req *pb.RollbackMigrationRequest) (*pb.RollbackMigrationResponse, error) {
	if !schema.IsUUID(req.GetId()) {
		return nil, apierr.NotFound("migration %q not found", req.GetId())
	}
	tgt, err := s.target(ctx, req.GetTenant())
	if err != nil {
		return nil, err
	}
	results, err := s.Migration.Rollback(ctx, tgt, migration.RollbackRequest{ID: req.GetId(), Cascade: req.GetCascade(), DryRun: req.GetDryRun(),
		ConfirmHash: req.GetConfirmHash(), ConfirmToken: req.GetConfirmToken(), CreatedBy: caller(ctx)})
	if err != nil {
		return nil, err
	}
	out := &pb.RollbackMigrationResponse{DryRun: req.GetDryRun()}
	for _, r := range results {
		m, err := migrationOf(r.Migration)
		if err != nil {
			return nil, err
		}
		out.Migrations = append(out.Migrations, m)
	}
	return out, nil
}

func (s *Server) ResolveMigration(ctx context.Context, req *pb.ResolveMigrationRequest) (*pb.ResolveMigrationResponse, error) {
	if !schema.IsUUID(req.GetId()) {
		return nil, apierr.NotFound("migration %q not found", req.GetId())
	}
	tgt, err := s.target(ctx, req.GetTenant())
	if err != nil {
		return nil, err
	}
	m, res, err := s.Migration.Resolve(ctx, tgt, migration.ResolveRequest{ID: req.GetId(), As: req.GetAs(), Reason: req.GetReason(), Force: req.GetForce(), By: caller(ctx)})
	if err != nil {
		return nil, err
	}
	out := &pb.ResolveMigrationResponse{}
	if out.Migration, err = migrationOf(m); err != nil {
		return nil, err
	}
	if out.Resolution, err = structOf(res); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Server) Export(ctx context.Context, req *pb.ExportRequest) (*pb.ExportResponse, error) {
	tgt, err := s.target(ctx, req.GetTenant())
	if err != nil {
		return nil, err
	}
	now := time.Now()
	switch req.GetFormat() {
	case "json":
		b, err := migration.ExportBundle(ctx, tgt.DB, tgt.Dialect, req.GetTenant(), now)
		if err != nil {
			return nil, err
		}
		st, err := structOf(b)
		if err != nil {
			return nil, err
		}
		return &pb.ExportResponse{Bundle: st}, nil
	case "", "sql":
		d := tgt.Dialect
		if name := req.GetDialect(); name != "" {
			if d, err = schema.DialectByName(name); err != nil {
				return nil, apierr.InvalidQuery("dialect", "dialect must be postgres, mysql or sqlite")
			}
		}
		script, err := migration.ExportSQL(ctx, tgt.DB, tgt.Dialect, d, req.GetTenant(), now)
		if err != nil {
			return nil, err
		}
		return &pb.ExportResponse{Sql: script}, nil
	}
	return nil, apierr.InvalidQuery("format", "format must be sql or json")
}

func (s *Server) Replay(ctx context.Context, req *pb.ReplayRequest) (*pb.ReplayResponse, error) {
	if req.GetFrom() == "" {
		return nil, apierr.InvalidPayload("from", "from must name another tenant")
	}
	source, err := s.target(ctx, req.GetFrom())
	if err != nil {
		return nil, err
	}
	target, err := s.target(ctx, req.GetTenant())
	if err != nil {
		return nil, err
	}
	st, err := s.replay(ctx, source, target, req.GetUpTo())
	if err != nil {
		return nil, err
	}
	return &pb.ReplayResponse{Report: st}, nil
}

func (s *Server) CreateSandbox(ctx context.Context, req *pb.CreateSandboxRequest) (*pb.CreateSandboxResponse, error) {
	source, err := s.target(ctx, req.GetTenant())
	if err != nil {
		return nil, err
	}
	sb, err := s.Tenants.CreateSandbox(ctx, source, req.GetUpTo(), req.GetSlug(), req.GetName(), req.GetDatabaseUrl())
	if err != nil {
		return nil, err
	}
	target, err := s.target(ctx, sb.Slug)
	if err != nil {
		return nil, err
	}
	st, err := s.replay(ctx, source, target, req.GetUpTo())
	if err != nil {
		return nil, err
	}
	return &pb.CreateSandboxResponse{Tenant: tenantOf(sb), Replay: st}, nil
}

// replay replays source's history into target and answers the report as HTTP does.
func (s *Server) replay(ctx context.Context, source, target migration.Target, upTo int64) (*structpb.Struct, error) {
	report, err := s.Migration.Replay(ctx, source, target, migration.ReplayOptions{UpTo: upTo})
	if err != nil {
		return nil, err
	}
	return structOf(report)
}

func migrationOf(m *migration.Migration) (*pb.Migration, error) {
	out := &pb.Migration{Id: m.ID, Seq: m.Seq, Name: m.Name, Description: m.Description, Type: m.Type, UpSql: m.UpSQL, DownSql: m.DownSQL,
		Checksum: m.Checksum, Status: m.Status, Error: m.Error, DurationMs: m.DurationMs, CreatedBy: m.CreatedBy, CreatedAt: timestamppb.New(m.CreatedAt),
		UpdatedAt: timestamppb.New(m.UpdatedAt), AppliedSteps: int32(m.AppliedSteps), Changeset: m.Changeset}
	if m.ExecutedAt != nil {
		out.ExecutedAt = timestamppb.New(*m.ExecutedAt)
	}
	if len(m.Change) > 0 {
		var c map[string]any
		if err := json.Unmarshal(m.Change, &c); err != nil {
			return nil, fmt.Errorf("migration %d: change: %w", m.Seq, err)
		}
		st, err := structpb.NewStruct(c)
		if err != nil {
			return nil, fmt.Errorf("migration %d: change: %w", m.Seq, err)
		}
		out.Change = st
	}
	return out, nil
}

// structOf is v's JSON (as the HTTP door answers it) as a Struct.
func structOf(v any) (*structpb.Struct, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return structpb.NewStruct(m)
}
