package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	pb "strata/proto/strata/controlplane/v1"
)

// dialGRPC serves the node's gRPC door on a free port and returns a client of it.
func dialGRPC(t *testing.T, n *node) *grpc.ClientConn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = n.app.ServeGRPC(ctx, ln); close(done) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		<-done
	})
	return conn
}

// reasonOf is the contract's code a gRPC error carries.
func reasonOf(err error) (codes.Code, string) {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return st.Code(), info.Reason
		}
	}
	return st.Code(), ""
}

// TestGRPCMatchesHTTP: the control plane answers the same over gRPC (a generated Go
// client) as over HTTP: registering, listing, planning and running changesets, tagging
// tenants, and the same errors with the contract's codes; health and reflection are
// served for stock tools, and everything else needs a platform admin's token.
func TestGRPCMatchesHTTP(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			for _, slug := range []string{"g1", "g2"} {
				n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": slug})
			}
			conn := dialGRPC(t, n)
			client := pb.NewControlPlaneClient(conn)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			// Open: health and reflection. Closed: everything else without a token.
			hr, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "strata.controlplane.v1.ControlPlane"})
			if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("health: %v %v", hr, err)
			}
			rs, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_ = rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
			lr, err := rs.Recv()
			if err != nil {
				t.Fatal(err)
			}
			var services []string
			for _, s := range lr.GetListServicesResponse().GetService() {
				services = append(services, s.GetName())
			}
			if !slices.Contains(services, "strata.controlplane.v1.ControlPlane") {
				t.Fatalf("reflection lists %v", services)
			}
			if _, err := client.ListTenants(ctx, &pb.ListTenantsRequest{}); status.Code(err) != codes.Unauthenticated {
				t.Fatalf("without a token: %v", err)
			}
			// A tenant's admin is not a platform admin.
			n.mustCall(200, "POST", "/api/t/g1/users", map[string]any{"email": "boss@g1.test", "password": testPassword, "role": roleID(t, n, "g1", "admin")})
			tenantToken := n.mustCall(200, "POST", "/api/t/g1/auth/login", map[string]any{"email": "boss@g1.test", "password": testPassword}).get("data.access_token").(string)
			tctx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tenantToken)
			if _, err := client.ListTenants(tctx, &pb.ListTenantsRequest{}); status.Code(err) != codes.PermissionDenied {
				t.Fatalf("a tenant admin's token: %v", err)
			}
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+n.token)

			// Registering: the same answers as over HTTP.
			file := []byte("name: gbase\ntags: [team=core]\nchanges:\n  - op: create_table\n    name: things\n    columns: [{name: label, type: string}]\n")
			reg, err := client.RegisterChangeset(ctx, &pb.RegisterChangesetRequest{File: file, Yaml: true})
			if err != nil || !reg.GetCreated() {
				t.Fatalf("register: %v %v", reg, err)
			}
			again, err := client.RegisterChangeset(ctx, &pb.RegisterChangesetRequest{File: file, Yaml: true})
			if err != nil || again.GetCreated() {
				t.Fatalf("the same file again: %v %v", again, err)
			}
			httpCS := n.mustCall(200, "GET", "/api/changesets/gbase", nil)
			if httpCS.get("data.checksum") != reg.GetChangeset().GetChecksum() || httpCS.get("data.changes.0.op") != reg.GetChangeset().GetChanges()[0].AsMap()["op"] {
				t.Fatalf("HTTP %s, gRPC %v", httpCS, reg.GetChangeset())
			}
			_, err = client.RegisterChangeset(ctx, &pb.RegisterChangesetRequest{File: []byte(`{"name": "gbase", "up_sql": "SELECT 1"}`)})
			st, r := n.call("POST", "/api/changesets", `{"name": "gbase", "up_sql": "SELECT 1"}`, nil)
			if code, reason := reasonOf(err); code != codes.AlreadyExists || reason != "CHECKSUM_MISMATCH" || st != 409 || r.get("errors.0.extensions.code") != reason {
				t.Fatalf("checksum mismatch: gRPC %v %s, HTTP %d %s", code, reason, st, r)
			}
			_, err = client.GetChangeset(ctx, &pb.GetChangesetRequest{Name: "nowhere"})
			_, r = n.call("GET", "/api/changesets/nowhere", nil, nil)
			if code, reason := reasonOf(err); code != codes.NotFound || reason == "" || reason != r.get("errors.0.extensions.code") {
				t.Fatalf("not found: gRPC %v %q, HTTP %s", code, reason, r)
			}
			_, err = client.RegisterChangeset(ctx, &pb.RegisterChangesetRequest{File: []byte(`{"name": "bad", "colour": "red", "up_sql": "SELECT 1"}`)})
			if code, reason := reasonOf(err); code != codes.InvalidArgument || reason != "INVALID_PAYLOAD" {
				t.Fatalf("an unknown field: %v %q", code, reason)
			}
			list, err := client.ListChangesets(ctx, &pb.ListChangesetsRequest{})
			if err != nil || len(list.GetChangesets()) != 1 {
				t.Fatalf("list: %v %v", list, err)
			}

			// Tags, then a dry run and a run, streamed.
			if tg, err := client.TagTenant(ctx, &pb.TagTenantRequest{Slug: "g2", Tags: map[string]string{"wave": "1"}}); err != nil || tg.GetTags()["wave"] != "1" {
				t.Fatalf("tag: %v %v", tg, err)
			}
			if got := n.mustCall(200, "GET", "/api/tenants/g2", nil).get("data.tags.wave"); got != "1" {
				t.Fatalf("the tag over HTTP: %v", got)
			}
			sel := &pb.MigrateRequest{Changesets: []string{"gbase"}, TenantTags: []string{"wave=1"}, DryRun: true}
			dry, err := client.Migrate(ctx, sel)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := dry.Recv()
			if err != nil || len(ev.GetPlan().GetResults()) != 1 {
				t.Fatalf("dry run: %v %v", ev, err)
			}
			httpDry := n.mustCall(200, "POST", "/api/migrate", map[string]any{"changesets": []string{"gbase"}, "tenant_tags": []string{"wave=1"}, "dry_run": true})
			viaGRPC, _ := json.Marshal(map[string]any{"tenant": ev.GetPlan().GetResults()[0].GetTenant(), "status": ev.GetPlan().GetResults()[0].GetStatus(),
				"up_sql": ev.GetPlan().GetResults()[0].GetPlan()[0].GetUpSql()})
			viaHTTP, _ := json.Marshal(map[string]any{"tenant": httpDry.get("data.results.0.tenant"), "status": httpDry.get("data.results.0.status"),
				"up_sql": httpDry.get("data.results.0.plan.0.up_sql")})
			if string(viaGRPC) != string(viaHTTP) {
				t.Fatalf("dry runs differ:\ngRPC %s\nHTTP %s", viaGRPC, viaHTTP)
			}
			sel.DryRun = false
			stream, err := client.Migrate(ctx, sel)
			if err != nil {
				t.Fatal(err)
			}
			var first, last *pb.Run
			progress := 0
			for {
				ev, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case ev.GetRun() != nil && first == nil:
					first = ev.GetRun()
				case ev.GetRun() != nil:
					last = ev.GetRun()
				case ev.GetProgress() != nil:
					progress++
				}
			}
			if first == nil || last == nil || last.GetStatus() != "completed" || last.GetCounts()["applied"] != 1 || progress == 0 {
				t.Fatalf("the streamed run: first %v last %v progress %d", first, last, progress)
			}
			httpRun := n.mustCall(200, "GET", "/api/migrate/runs/"+last.GetId(), nil)
			if httpRun.get("data.status") != last.GetStatus() || httpRun.get("data.results.0.migration_ids.0") != last.GetResults()[0].GetMigrationIds()[0] {
				t.Fatalf("the run over HTTP %s, over gRPC %v", httpRun, last)
			}
			got, err := client.GetRun(ctx, &pb.RunRef{Id: last.GetId()})
			if err != nil || got.GetStatus() != "completed" {
				t.Fatalf("get run: %v %v", got, err)
			}
			if _, err := client.CancelRun(ctx, &pb.RunRef{Id: last.GetId()}); status.Code(err) != codes.FailedPrecondition {
				t.Fatalf("cancelling an ended run: %v", err)
			}
			runs, err := client.ListRuns(ctx, &pb.ListRunsRequest{})
			if err != nil || len(runs.GetRuns()) != 1 {
				t.Fatalf("runs: %v %v", runs, err)
			}
			tenants, err := client.ListTenants(ctx, &pb.ListTenantsRequest{})
			if err != nil || len(tenants.GetTenants()) != 2 {
				t.Fatalf("tenants: %v %v", tenants, err)
			}

			// A tenant's migrations: listed, read, exported, sandboxed, rolled back.
			ms, err := client.ListMigrations(ctx, &pb.ListMigrationsRequest{Tenant: "g2", Limit: 500})
			httpList := n.mustCall(200, "GET", "/api/t/g2/migrations?limit=500", nil)
			if httpItems, _ := httpList.get("data").([]any); err != nil || len(ms.GetMigrations()) != len(httpItems) {
				t.Fatalf("migrations: gRPC %d (%v), HTTP %d", len(ms.GetMigrations()), err, len(httpItems))
			}
			made := ms.GetMigrations()[len(ms.GetMigrations())-1]
			if made.GetChangeset() != "gbase" || made.GetType() != "create_table" || made.GetId() != last.GetResults()[0].GetMigrationIds()[0] {
				t.Fatalf("the changeset's migration: %v", made)
			}
			one, err := client.GetMigration(ctx, &pb.MigrationRef{Tenant: "g2", Id: made.GetId()})
			if err != nil || one.GetUpSql() != n.mustCall(200, "GET", "/api/t/g2/migrations/"+made.GetId(), nil).get("data.up_sql") {
				t.Fatalf("get migration: %v %v", one, err)
			}
			exp, err := client.Export(ctx, &pb.ExportRequest{Tenant: "g2", Format: "sql"})
			if err != nil || !strings.Contains(exp.GetSql(), "things") {
				t.Fatalf("export: %v", err)
			}
			sb, err := client.CreateSandbox(ctx, &pb.CreateSandboxRequest{Tenant: "g2", Slug: "g2-sandbox"})
			if err != nil || sb.GetTenant().GetSandboxOf() != "g2" || !hasTable(n, "g2-sandbox", "things") {
				t.Fatalf("sandbox: %v %v", sb, err)
			}
			_, err = client.RollbackMigration(ctx, &pb.RollbackMigrationRequest{Tenant: "g2", Id: made.GetId()})
			code, reason := reasonOf(err)
			gst, _ := status.FromError(err)
			var hash, token string
			for _, d := range gst.Details() {
				if info, ok := d.(*errdetails.ErrorInfo); ok {
					hash, token = info.GetMetadata()["requiredConfirmHash"], info.GetMetadata()["confirmToken"]
				}
			}
			if code != codes.FailedPrecondition || reason != "SCHEMA_CONFIRM_REQUIRED" || hash == "" || token == "" {
				t.Fatalf("a destructive rollback unconfirmed: %v %q", code, reason)
			}
			rb, err := client.RollbackMigration(ctx, &pb.RollbackMigrationRequest{Tenant: "g2", Id: made.GetId(), ConfirmHash: hash, ConfirmToken: token})
			if err != nil || len(rb.GetMigrations()) != 1 || hasTable(n, "g2", "things") {
				t.Fatalf("rollback: %v %v", rb, err)
			}
			if _, err := client.GetMigration(ctx, &pb.MigrationRef{Tenant: "nowhere", Id: made.GetId()}); status.Code(err) != codes.NotFound {
				t.Fatalf("a tenant that does not exist: %v", err)
			}
		})
	}
}

// TestPlatformKeys: a platform key, made by a platform admin and shown once, opens the
// platform over HTTP and gRPC (bearer or x-api-key) and a tenant's routes as a platform
// admin; a tenant's key or admin cannot make one or pass for one; a deleted key stops
// working at once on every door.
func TestPlatformKeys(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "k1"})
			made := n.mustCall(201, "POST", "/api/api-keys", map[string]any{"name": "ci"})
			key, _ := made.get("data.token").(string)
			id, _ := made.get("data.id").(string)
			if !strings.HasPrefix(key, "spk_") || id == "" {
				t.Fatalf("made: %s", made)
			}
			list := n.mustCall(200, "GET", "/api/api-keys", nil)
			if list.get("data.0.name") != "ci" || list.get("data.0.token") != nil || list.get("data.0.created_by") == nil {
				t.Fatalf("the list shows the token or lacks the key: %s", list)
			}
			as := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
			if st, r := n.call("GET", "/api/tenants", nil, as(key)); st != 200 || r.get("data.0.slug") != "k1" {
				t.Fatalf("the key on a platform route: %d %s", st, r)
			}
			if st, r := n.call("POST", "/api/t/k1/tables", map[string]any{"name": "notes", "columns": []any{map[string]any{"name": "body", "type": "text"}}}, as(key)); st != 200 {
				t.Fatalf("the key on a tenant's admin route: %d %s", st, r)
			}
			for _, bad := range []string{"spk_" + strings.Repeat("x", 43), "spk_"} {
				if st, _ := n.call("GET", "/api/tenants", nil, as(bad)); st != 401 {
					t.Fatalf("a made-up key %q: %d", bad, st)
				}
			}

			// A tenant's admin and a tenant's key are not the platform.
			n.mustCall(200, "POST", "/api/t/k1/users", map[string]any{"email": "boss@k1.test", "password": testPassword, "role": roleID(t, n, "k1", "admin")})
			boss := n.mustCall(200, "POST", "/api/t/k1/auth/login", map[string]any{"email": "boss@k1.test", "password": testPassword}).get("data.access_token").(string)
			tenantKey := n.mustCall(200, "POST", "/api/t/k1/api-keys", map[string]any{"name": "app", "role": roleID(t, n, "k1", "admin")}).get("data.token").(string)
			for who, tok := range map[string]string{"a tenant admin": boss, "a tenant key": tenantKey} {
				if st, _ := n.call("POST", "/api/api-keys", map[string]any{"name": "mine"}, as(tok)); st != 401 && st != 403 {
					t.Fatalf("%s made a platform key: %d", who, st)
				}
				if st, _ := n.call("GET", "/api/api-keys", nil, as(tok)); st != 401 && st != 403 {
					t.Fatalf("%s listed platform keys: %d", who, st)
				}
			}
			anonymous := map[string]string{"Authorization": ""}
			if st, r := n.call("POST", "/api/api-keys", map[string]any{"name": "anon"}, anonymous); st != 401 {
				t.Fatalf("without a token: %d %s", st, r)
			}
			if st, r := n.call("POST", "/api/api-keys", map[string]any{"name": ""}, as(key)); st != 400 || r.get("errors.0.extensions.code") != "INVALID_PAYLOAD" {
				t.Fatalf("a key without a name: %d %s", st, r)
			}

			client := pb.NewControlPlaneClient(dialGRPC(t, n))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for _, md := range [][2]string{{"authorization", "Bearer " + key}, {"x-api-key", key}} {
				list, err := client.ListTenants(metadata.AppendToOutgoingContext(ctx, md[0], md[1]), &pb.ListTenantsRequest{})
				if err != nil || len(list.GetTenants()) != 1 {
					t.Fatalf("gRPC with the key in %s: %v %v", md[0], list, err)
				}
			}
			if _, err := client.ListTenants(metadata.AppendToOutgoingContext(ctx, "x-api-key", tenantKey), &pb.ListTenantsRequest{}); status.Code(err) != codes.Unauthenticated {
				t.Fatalf("gRPC with a tenant's key: %v", err)
			}

			n.mustCall(204, "DELETE", "/api/api-keys/"+id, nil)
			if st, _ := n.call("GET", "/api/tenants", nil, as(key)); st != 401 {
				t.Fatalf("a deleted key on HTTP: %d", st)
			}
			if st, _ := n.call("GET", "/api/t/k1/tables", nil, as(key)); st != 401 {
				t.Fatalf("a deleted key on a tenant's route: %d", st)
			}
			if _, err := client.ListTenants(metadata.AppendToOutgoingContext(ctx, "x-api-key", key), &pb.ListTenantsRequest{}); status.Code(err) != codes.Unauthenticated {
				t.Fatalf("a deleted key on gRPC: %v", err)
			}
			if st, _ := n.call("DELETE", "/api/api-keys/"+id, nil, anonymous); st != 401 {
				t.Fatalf("delete without a token: %d", st)
			}
			n.mustCall(404, "DELETE", "/api/api-keys/"+id, nil)
		})
	}
}
