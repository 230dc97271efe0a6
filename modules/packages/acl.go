package packages

import (
	"context"
	"encoding/json"

	"strata/modules/identity"
)

// IdentityACL gives one tenant's tables their acl through the identity service, as
// POST /tables does. Changed, when set, is told after permissions changed, so the
// door forgets the tenant's cached policies (on every node).
type IdentityACL struct {
	Identity *identity.Service
	Tenant   identity.Tenant
	Changed  func()
}

// CheckACL refuses an acl naming an unknown action or role.
func (a IdentityACL) CheckACL(ctx context.Context, acl json.RawMessage) error {
	_, err := a.Identity.ParseACL(ctx, a.Tenant, acl)
	return err
}

// ApplyACL replaces the table's permissions for the actions the acl names.
func (a IdentityACL) ApplyACL(ctx context.Context, table string, acl json.RawMessage) error {
	grants, err := a.Identity.ParseACL(ctx, a.Tenant, acl)
	if err != nil {
		return err
	}
	if err := a.Identity.ApplyACL(ctx, a.Tenant, table, acl, grants); err != nil {
		return err
	}
	if a.Changed != nil {
		a.Changed()
	}
	return nil
}
