package identity

import (
	"context"
	"fmt"
	"net/mail"
	"slices"
	"strings"

	"strata/modules/apierr"
	"strata/modules/auth"
)

// UserInput is a user as admins (and sign-up) write it; nil fields stay as they are.
type UserInput struct {
	Email     *string `json:"email,omitempty"`
	Password  *string `json:"password,omitempty"`
	Role      *string `json:"role,omitempty"`
	Status    *string `json:"status,omitempty"`
	FirstName *string `json:"first_name,omitempty"`
	LastName  *string `json:"last_name,omitempty"`
}

// UserStatuses are the statuses a user may have; only active users sign in.
var UserStatuses = []string{"active", "suspended", "invited", StatusUnverified}

// userColumns turns a user body into column values, checking each.
func (s *Service) userColumns(ctx context.Context, tn Tenant, in UserInput) (map[string]any, error) {
	cols := map[string]any{}
	if in.Email != nil {
		e := strings.ToLower(strings.TrimSpace(*in.Email))
		if addr, err := mail.ParseAddress(e); err != nil || addr.Address != e || len(e) > 255 {
			return nil, apierr.InvalidPayload("email", "email must be an email address")
		}
		cols["email"] = e
	}
	if in.Password != nil {
		h, err := auth.HashPassword(*in.Password)
		if err != nil {
			return nil, err
		}
		cols["password_hash"] = h
	}
	if in.Role != nil {
		if *in.Role == "" {
			cols["role_id"] = nil
		} else {
			if !RoleExists(ctx, tn, *in.Role) {
				return nil, apierr.InvalidPayload("role", "role %q does not exist", *in.Role)
			}
			cols["role_id"] = *in.Role
		}
	}
	if in.Status != nil {
		if !slices.Contains(UserStatuses, *in.Status) {
			return nil, apierr.InvalidPayload("status", "status must be active, suspended, invited or unverified")
		}
		cols["status"] = *in.Status
	}
	for k, v := range map[string]*string{"first_name": in.FirstName, "last_name": in.LastName} {
		if v != nil {
			if len(*v) > 255 {
				return nil, apierr.InvalidPayload(k, "at most 255 characters")
			}
			cols[k] = *v
		}
	}
	return cols, nil
}

// CreateUser adds a user (email and password required) and returns its id.
func (s *Service) CreateUser(ctx context.Context, tn Tenant, in UserInput) (string, error) {
	if in.Email == nil || in.Password == nil {
		return "", apierr.InvalidPayload("email", "email and password are required")
	}
	cols, err := s.userColumns(ctx, tn, in)
	if err != nil {
		return "", err
	}
	id := s.NewID()
	if err := s.insert(ctx, tn, "strata_users", id, cols); err != nil {
		return "", uniqueErr(err, "email")
	}
	return id, nil
}

// Register signs up an end user with the authenticated role: active, or unverified
// until they follow a mailed link where verify is set (the caller mails it when created
// is true). A taken email is not an error, so sign-up cannot tell who has an account.
func (s *Service) Register(ctx context.Context, tn Tenant, in UserInput, verify bool) (u MailTarget, created bool, err error) {
	cols, err := s.userColumns(ctx, tn, UserInput{Email: in.Email, Password: in.Password, FirstName: in.FirstName, LastName: in.LastName})
	if err != nil {
		return u, false, err
	}
	if in.Email == nil || in.Password == nil {
		return u, false, apierr.InvalidPayload("email", "email and password are required")
	}
	if err := s.defaultRole(ctx, tn, cols); err != nil {
		return u, false, err
	}
	status := "active"
	if verify {
		status = StatusUnverified
	}
	cols["status"] = status
	u = MailTarget{ID: s.NewID(), Email: cols["email"].(string), Status: status}
	if err := s.insert(ctx, tn, "strata_users", u.ID, cols); err != nil {
		if uniqueErr(err, "email") == err {
			return u, false, err
		}
		return u, false, nil
	}
	return u, true, nil
}

// defaultRole gives a user that has no role the built-in authenticated role.
func (s *Service) defaultRole(ctx context.Context, tn Tenant, cols map[string]any) error {
	if cols["role_id"] != nil {
		return nil
	}
	role, err := s.Access.RoleID(ctx, tn.DB, tn.ID, "authenticated")
	if err != nil {
		return err
	}
	cols["role_id"] = role
	return nil
}

// SessionEffect is what a user change does to the user's sessions.
type SessionEffect int

const (
	// SessionsKept: nothing that signs in changed.
	SessionsKept SessionEffect = iota
	// SessionsRechecked: the role or status changed; access tokens are checked again.
	SessionsRechecked
	// SessionsRevoked: the password changed or the user may no longer sign in.
	SessionsRevoked
)

// UpdateUser changes a user and says what that does to their sessions (the caller
// revokes or rechecks them: RevokeSessions, and its own caches).
func (s *Service) UpdateUser(ctx context.Context, tn Tenant, id string, in UserInput) (SessionEffect, error) {
	cols, err := s.userColumns(ctx, tn, in)
	if err != nil {
		return SessionsKept, err
	}
	n, err := s.update(ctx, tn, "strata_users", id, cols)
	if err != nil {
		return SessionsKept, uniqueErr(err, "email")
	}
	if n == 0 {
		return SessionsKept, apierr.NotFound("user %q not found", id)
	}
	switch {
	case in.Status != nil && *in.Status != "active" || in.Password != nil:
		return SessionsRevoked, nil
	case in.Role != nil || in.Status != nil:
		return SessionsRechecked, nil
	}
	return SessionsKept, nil
}

// DeleteUser removes a user; the caller revokes their sessions.
func (s *Service) DeleteUser(ctx context.Context, tn Tenant, id string) error {
	n, err := s.remove(ctx, tn, "strata_users", id)
	if err != nil {
		return err
	}
	if n == 0 {
		return apierr.NotFound("user %q not found", id)
	}
	return nil
}

// RevokeSessions ends a user's refresh tokens.
func (s *Service) RevokeSessions(ctx context.Context, tn Tenant, userID string) error {
	d := tn.DB.Dialect
	if _, err := tn.DB.ExecContext(ctx, d.Rebind("UPDATE "+d.Quote("strata_sessions")+" SET "+d.Quote("revoked_at")+" = ? WHERE "+d.Quote("subject_id")+" = ? AND "+d.Quote("revoked_at")+" IS NULL"),
		d.TimeValue(s.Now()), userID); err != nil {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	return nil
}
