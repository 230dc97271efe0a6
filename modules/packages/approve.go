package packages

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"strata/modules/apierr"
	"strata/modules/formats"
	"strata/modules/migration"
)

// ApproveRequest names what to approve: every pending migration scans queued (All),
// or some of them by id or seq.
type ApproveRequest struct {
	All bool     `json:"all"`
	IDs []string `json:"ids"`
}

// Approved is what an approval ran: the migrations, in order, and the entities whose
// acl was then given to their tables.
type Approved struct {
	Migrations []*migration.Migration `json:"migrations"`
	ACL        []string               `json:"acl"`
}

// Approve runs pending migrations scans queued, in seq order, through the one path
// (each re-planned against the schema as it is then), and then gives their acl to
// the entities whose tables are now as declared. With All, entities that needed no
// migration but wait for their acl get it too. A migration that fails stops the
// approval; the ones before it stay executed.
func (s *Service) Approve(ctx context.Context, tn Tenant, req ApproveRequest) (*Approved, error) {
	if req.All == (len(req.IDs) > 0) {
		return nil, apierr.InvalidPayload("ids", "approve all (all: true) or some migrations by id (ids: [...]), not both")
	}
	pend, err := s.pending(ctx, tn)
	if err != nil {
		return nil, err
	}
	chosen := pend
	if !req.All {
		chosen = nil
		for i, ref := range req.IDs {
			found := false
			for _, p := range pend {
				if p.ID == ref || strconv.FormatInt(p.Seq, 10) == ref {
					if !slices.ContainsFunc(chosen, func(c migration.Migration) bool { return c.ID == p.ID }) {
						chosen = append(chosen, p)
					}
					found = true
					break
				}
			}
			if !found {
				return nil, apierr.NotFound("ids[%d]: %q is not a pending migration a package scan queued", i, ref)
			}
		}
	}
	out := &Approved{Migrations: []*migration.Migration{}, ACL: []string{}}
	touched := map[string]bool{}
	for _, p := range sortBySeq(chosen) {
		m, err := s.Migration.Approve(ctx, tn.Target, p.ID, tn.By)
		if m != nil && err == nil {
			out.Migrations = append(out.Migrations, m)
		}
		if err != nil {
			return out, fmt.Errorf("approve migration %d (%s): %w", p.Seq, p.Name, err)
		}
		touched[entityOf(*m)] = true
	}
	if err := s.giveACLs(ctx, tn, func(entity string) bool { return req.All || touched[entity] }, out); err != nil {
		return out, err
	}
	return out, nil
}

func sortBySeq(list []migration.Migration) []migration.Migration {
	out := slices.Clone(list)
	slices.SortFunc(out, func(a, b migration.Migration) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// giveACLs gives their acl to the entities wanted that wait for it and whose tables
// are as the packages declare them, and notes the time in the registry.
func (s *Service) giveACLs(ctx context.Context, tn Tenant, wanted func(entity string) bool, out *Approved) error {
	reg, err := s.entities(ctx, tn.ID)
	if err != nil {
		return err
	}
	m, _, err := tn.Model(ctx)
	if err != nil {
		return err
	}
	sums := tableChecksums(m)
	done := map[string]bool{}
	d := s.Control.Dialect
	now := s.Now().UTC()
	for _, e := range reg {
		if e.def.ACL == nil || e.ACLAppliedAt != nil || !wanted(e.Name) || sums[e.Name] != e.Checksum {
			continue
		}
		if !done[e.Name] {
			if err := tn.ACL.ApplyACL(ctx, e.Name, formats.MustJSON(e.def.ACL)); err != nil {
				var ae *apierr.Error
				if errors.As(err, &ae) {
					return apierr.InvalidPayload(e.def.Sources[0]+".acl", "%s.acl: %s", e.def.Sources[0], ae.Message)
				}
				return fmt.Errorf("give %s its acl: %w", e.Name, err)
			}
			done[e.Name] = true
			out.ACL = append(out.ACL, e.Name)
		}
		if _, err := s.Control.ExecContext(ctx, d.Rebind("UPDATE strata_package_entities SET acl_applied_at = ? WHERE tenant_id = ? AND package_id = ? AND entity = ?"),
			d.TimeValue(now), tn.ID, e.PackageID, e.Name); err != nil {
			return fmt.Errorf("note the acl of %s: %w", e.Name, err)
		}
	}
	return nil
}
