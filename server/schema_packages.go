package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"strata/modules/access"
	"strata/modules/bus"
	"strata/modules/identity"
	"strata/modules/packages"
	"strata/modules/records"
	"strata/schema"
)

// The package schema workflow's commands: strata schema scan, list, approve, preview
// and status (modules/packages), through either door.

// packageDoor is what the package commands ask of Strata; localDoor and remoteDoor
// both answer it (POST /api/t/{tenant}/packages/scan and its siblings).
type packageDoor interface {
	ScanPackages(ctx context.Context, slug string, pkgs []packages.Package) (*packages.ScanResult, error)
	PendingPackages(ctx context.Context, slug string) ([]packages.Queued, error)
	ApprovePackages(ctx context.Context, slug string, req packages.ApproveRequest) (*packages.Approved, error)
	PreviewPackage(ctx context.Context, slug, id, dialect string) (*packages.Preview, error)
	PackageStatus(ctx context.Context, slug string) (*packages.Status, error)
}

// packageTenant opens a tenant for the package workflow on the databases (settled
// first for a command that changes it): the acl of an approved entity is written by an
// identity service of the CLI's own, and the running nodes are told to forget the
// tenant's policies.
func (l localDoor) packageTenant(ctx context.Context, slug string, settle bool) (packages.Tenant, error) {
	open := l.co.tenants.Open
	if settle {
		open = l.co.settled
	}
	t, tgt, err := open(ctx, slug)
	if err != nil {
		return packages.Tenant{}, err
	}
	ids := &identity.Service{Records: &records.Service{Now: time.Now}, Access: &access.Store{TTL: time.Second}, Now: time.Now, NewID: newID}
	return packages.Tenant{
		ID:     t.ID,
		Target: tgt,
		Model: func(ctx context.Context) (*schema.Model, int64, error) {
			return l.co.tenants.FreshModelVersion(ctx, t, tgt.Store)
		},
		ACL: packages.IdentityACL{Identity: ids, Tenant: identity.Tenant{ID: t.ID, Slug: t.Slug, DB: tgt.Store}, Changed: func() {
			bus.Tell(l.co.bus, slog.Default(), bus.TopicInvalidate, t.ID, bus.Invalidation{What: bus.InvalidateAccess})
		}},
		By: operator(),
	}, nil
}

func (l localDoor) ScanPackages(ctx context.Context, slug string, pkgs []packages.Package) (*packages.ScanResult, error) {
	tn, err := l.packageTenant(ctx, slug, true)
	if err != nil {
		return nil, err
	}
	return l.co.packages.Scan(ctx, tn, pkgs)
}

func (l localDoor) PendingPackages(ctx context.Context, slug string) ([]packages.Queued, error) {
	tn, err := l.packageTenant(ctx, slug, false)
	if err != nil {
		return nil, err
	}
	return l.co.packages.Pending(ctx, tn)
}

func (l localDoor) ApprovePackages(ctx context.Context, slug string, req packages.ApproveRequest) (*packages.Approved, error) {
	tn, err := l.packageTenant(ctx, slug, true)
	if err != nil {
		return nil, err
	}
	return l.co.packages.Approve(ctx, tn, req)
}

func (l localDoor) PreviewPackage(ctx context.Context, slug, id, dialect string) (*packages.Preview, error) {
	tn, err := l.packageTenant(ctx, slug, false)
	if err != nil {
		return nil, err
	}
	return l.co.packages.Preview(ctx, tn, id, dialect)
}

func (l localDoor) PackageStatus(ctx context.Context, slug string) (*packages.Status, error) {
	tn, err := l.packageTenant(ctx, slug, false)
	if err != nil {
		return nil, err
	}
	return l.co.packages.Status(ctx, tn)
}

func packagesPath(slug string) string { return "/t/" + url.PathEscape(slug) + "/packages" }

func (r *remoteDoor) ScanPackages(ctx context.Context, slug string, pkgs []packages.Package) (*packages.ScanResult, error) {
	var out packages.ScanResult
	err := r.call(ctx, "POST", packagesPath(slug)+"/scan", map[string]any{"packages": pkgs}, nil, &out)
	return &out, err
}

func (r *remoteDoor) PendingPackages(ctx context.Context, slug string) ([]packages.Queued, error) {
	var out []packages.Queued
	err := r.call(ctx, "GET", packagesPath(slug)+"/pending", nil, nil, &out)
	return out, err
}

func (r *remoteDoor) ApprovePackages(ctx context.Context, slug string, req packages.ApproveRequest) (*packages.Approved, error) {
	var out packages.Approved
	err := r.call(ctx, "POST", packagesPath(slug)+"/approve", req, nil, &out)
	return &out, err
}

func (r *remoteDoor) PreviewPackage(ctx context.Context, slug, id, dialect string) (*packages.Preview, error) {
	var out packages.Preview
	path := packagesPath(slug) + "/" + url.PathEscape(id) + "/preview"
	if dialect != "" {
		path += "?dialect=" + url.QueryEscape(dialect)
	}
	err := r.call(ctx, "GET", path, nil, nil, &out)
	return &out, err
}

func (r *remoteDoor) PackageStatus(ctx context.Context, slug string) (*packages.Status, error) {
	var out packages.Status
	err := r.call(ctx, "GET", packagesPath(slug), nil, nil, &out)
	return &out, err
}

// packageCommand runs a package command with --tenant and the door.
func (c *cli) packageCommand(f *migrateFlags, what string, run func(pd packageDoor) (int, error)) (int, error) {
	if f.tenant == "" {
		return exitUsage, usagef("%s needs --tenant", what)
	}
	pd, ok := c.door.(packageDoor)
	if !ok {
		return exitUsage, usagef("%s cannot be asked of this door", what)
	}
	return run(pd)
}

// readPackages finds DIR/packages/*/seed/metadata.json and the schema file each one
// names (seed/schema/entities.yaml by default); a package with an entities.yaml whose
// metadata.json does not name it is an error, not a package left out.
func readPackages(dir string) ([]packages.Package, error) {
	root := filepath.Join(dir, "packages")
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, usagef("%s: %v (scan DIR reads DIR/packages/*/seed/)", root, err)
	}
	var out []packages.Package
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		seed := filepath.Join(root, e.Name(), "seed")
		raw, err := os.ReadFile(filepath.Join(seed, "metadata.json"))
		if os.IsNotExist(err) {
			if _, serr := os.Stat(filepath.Join(seed, "schema", "entities.yaml")); serr == nil {
				return nil, fmt.Errorf("%s: seed/schema/entities.yaml has no seed/metadata.json naming it", filepath.Join(root, e.Name()))
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		var md struct {
			PackageID string `json:"packageId"`
			Schema    *struct {
				Path string `json:"path"`
			} `json:"schema"`
		}
		if err := json.Unmarshal(raw, &md); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(seed, "metadata.json"), err)
		}
		if md.Schema == nil {
			if _, serr := os.Stat(filepath.Join(seed, "schema", "entities.yaml")); serr == nil {
				return nil, fmt.Errorf("%s: metadata.json has no schema: {entities, path} for its seed/schema/entities.yaml", filepath.Join(root, e.Name()))
			}
			continue // a package without a schema
		}
		file := md.Schema.Path
		if file == "" {
			file = "schema/entities.yaml"
		}
		p := packages.Package{ID: md.PackageID, Metadata: raw, Files: map[string]string{}}
		if p.ID == "" {
			p.ID = e.Name()
		}
		// The server checks the path stays inside seed/; read only what it names.
		full := filepath.Join(seed, filepath.FromSlash(file))
		if rel, err := filepath.Rel(seed, full); err != nil || strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("%s: schema.path %q leaves the seed folder", filepath.Join(seed, "metadata.json"), file)
		}
		body, err := os.ReadFile(full)
		if err != nil {
			return nil, fmt.Errorf("package %s: %w", p.ID, err)
		}
		p.Files[file] = string(body)
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no package has a seed/metadata.json with a schema", root)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// schemaScan reads DIR's packages and sends them: the tenant's registry records them
// and what its schema lacks is queued for approval. Exit 0 whether or not anything was
// queued; 1 for a refused package (a conflict between packages among them).
func (c *cli) schemaScan(f *migrateFlags) (int, error) {
	return c.packageCommand(f, "scan", func(pd packageDoor) (int, error) {
		dir := f.dir
		if len(f.args) == 1 && dir == "" {
			dir = f.args[0]
		}
		if dir == "" || len(f.args) > 1 {
			return exitUsage, usagef("scan needs the folder that holds packages/: strata schema scan DIR --tenant SLUG")
		}
		pkgs, err := readPackages(dir)
		if err != nil {
			return exitError, err
		}
		res, err := pd.ScanPackages(c.ctx, f.tenant, pkgs)
		if err != nil {
			return exitError, err
		}
		c.emit(map[string]any{"data": res}, func(w io.Writer) {
			for _, p := range res.Packages {
				for _, e := range p.Entities {
					fmt.Fprintf(w, "%s: %s %s (checksum %s)\n", p.ID, e.Name, e.Version, e.Checksum[:12])
				}
			}
			for _, id := range res.Superseded {
				fmt.Fprintf(w, "superseded (rejected): %s\n", id)
			}
			switch {
			case len(res.Queued) == 0:
				fmt.Fprintln(w, "in sync: nothing to queue")
			case res.AlreadyQueued:
				fmt.Fprintf(w, "%d migrations already wait for approval (strata schema list)\n", len(res.Queued))
			default:
				fmt.Fprintf(w, "queued for approval (strata schema approve all):\n")
				printQueued(w, res.Queued)
			}
		})
		return exitOK, nil
	})
}

func printQueued(w io.Writer, list []packages.Queued) {
	for _, q := range list {
		fmt.Fprintf(w, "  %d  %s  %s  [%s]\n", q.Seq, q.ID, q.Name, strings.Join(q.Packages, ", "))
	}
}

// schemaList lists the migrations scans queued that wait for approval.
func (c *cli) schemaList(f *migrateFlags) (int, error) {
	return c.packageCommand(f, "list", func(pd packageDoor) (int, error) {
		list, err := pd.PendingPackages(c.ctx, f.tenant)
		if err != nil {
			return exitError, err
		}
		c.emit(map[string]any{"data": list}, func(w io.Writer) {
			if len(list) == 0 {
				fmt.Fprintln(w, "no package migrations wait for approval")
				return
			}
			printQueued(w, list)
		})
		return exitOK, nil
	})
}

// schemaApprove runs pending package migrations: all, or the ones named (id or seq).
// Exit 1 when one fails (the ones before it stay executed).
func (c *cli) schemaApprove(f *migrateFlags) (int, error) {
	return c.packageCommand(f, "approve", func(pd packageDoor) (int, error) {
		if len(f.args) == 0 {
			return exitUsage, usagef("approve all, or approve ID [ID…] (a migration's id or seq, from strata schema list)")
		}
		req := packages.ApproveRequest{IDs: f.args}
		if len(f.args) == 1 && f.args[0] == "all" {
			req = packages.ApproveRequest{All: true}
		}
		res, err := pd.ApprovePackages(c.ctx, f.tenant, req)
		if err != nil {
			return exitError, err
		}
		c.emit(map[string]any{"data": res}, func(w io.Writer) {
			if len(res.Migrations) == 0 && len(res.ACL) == 0 {
				fmt.Fprintln(w, "nothing to approve")
			}
			for _, m := range res.Migrations {
				fmt.Fprintf(w, "%d  %s  %s\n", m.Seq, m.Status, m.Name)
			}
			for _, e := range res.ACL {
				fmt.Fprintf(w, "acl given to %s\n", e)
			}
		})
		return exitOK, nil
	})
}

// schemaPreview prints the SQL a package's entities would run on the tenant now.
func (c *cli) schemaPreview(f *migrateFlags) (int, error) {
	return c.packageCommand(f, "preview", func(pd packageDoor) (int, error) {
		if len(f.args) != 1 {
			return exitUsage, usagef("preview PACKAGE --tenant SLUG [--dialect postgres|mysql|sqlite]")
		}
		if f.dialect != "" {
			if _, err := schema.DialectByName(f.dialect); err != nil {
				return exitUsage, usagef("--dialect must be postgres, mysql or sqlite")
			}
		}
		p, err := pd.PreviewPackage(c.ctx, f.tenant, f.args[0], f.dialect)
		if err != nil {
			return exitError, err
		}
		c.emit(map[string]any{"data": p}, func(w io.Writer) {
			if len(p.Changes) == 0 {
				fmt.Fprintf(w, "-- %s: the tenant's schema is as the package declares it\n", p.PackageID)
				return
			}
			fmt.Fprint(w, p.SQL)
		})
		return exitOK, nil
	})
}

// schemaStatus lists the tenant's packages, their entities and where each stands.
func (c *cli) schemaStatus(f *migrateFlags) (int, error) {
	return c.packageCommand(f, "status", func(pd packageDoor) (int, error) {
		st, err := pd.PackageStatus(c.ctx, f.tenant)
		if err != nil {
			return exitError, err
		}
		c.emit(map[string]any{"data": st}, func(w io.Writer) {
			if len(st.Packages) == 0 {
				fmt.Fprintln(w, "no packages scanned for this tenant")
			}
			for _, p := range st.Packages {
				fmt.Fprintln(w, p.ID)
				for _, e := range p.Entities {
					fmt.Fprintf(w, "  %-24s %-8s %s  %-8s acl %s\n", e.Name, e.Version, e.Checksum[:12], e.State, e.ACL)
				}
			}
			fmt.Fprintf(w, "%d package migrations wait for approval\n", st.Pending)
		})
		return exitOK, nil
	})
}
