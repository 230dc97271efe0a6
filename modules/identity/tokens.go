package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"strata/modules/apierr"
	"strata/modules/auth"
	"strata/modules/database"
	"strata/modules/records"
)

// The kinds of single-use tokens mailed to users, each with its lifetime.
const (
	TokenPasswordReset = "password-reset"
	TokenInvitation    = "user-invitation"
	TokenVerification  = "email-verification"
)

var tokenTTL = map[string]time.Duration{
	TokenPasswordReset: time.Hour,
	TokenInvitation:    7 * 24 * time.Hour,
	TokenVerification:  24 * time.Hour,
}

// StatusUnverified is a signed-up user who has not yet followed the verification link.
const StatusUnverified = "unverified"

// errBadToken is every refusal of a mailed token: unknown, of another kind, used,
// expired or superseded get the same answer.
func errBadToken() error {
	return apierr.Unauthorized("INVALID_TOKEN", "the link is invalid, already used or expired; ask for a new one")
}

// IssueToken makes a single-use token of kind for a user; it is stored hashed, and the
// user's earlier unused tokens of that kind stop working (only the latest link does).
func (s *Service) IssueToken(ctx context.Context, tn Tenant, userID, kind string) (string, error) {
	ttl, ok := tokenTTL[kind]
	if !ok {
		return "", fmt.Errorf("issue token: unknown kind %q", kind)
	}
	token := auth.RandomToken(32)
	d, q := tn.DB.Dialect, tn.DB.Dialect.Quote
	now := s.Now()
	if _, err := tn.DB.ExecContext(ctx, d.Rebind("UPDATE "+q("strata_user_tokens")+" SET "+q("used_at")+" = ? WHERE "+q("user_id")+" = ? AND "+q("kind")+" = ? AND "+q("used_at")+" IS NULL"),
		d.TimeValue(now), userID, kind); err != nil {
		return "", fmt.Errorf("retire earlier tokens: %w", err)
	}
	if _, err := tn.DB.ExecContext(ctx, d.Rebind("INSERT INTO "+q("strata_user_tokens")+" ("+q("id")+", "+q("user_id")+", "+q("kind")+", "+q("token_hash")+", "+q("expires_at")+", "+q("created_at")+", "+q("updated_at")+") VALUES (?, ?, ?, ?, ?, ?, ?)"),
		s.NewID(), userID, kind, auth.HashToken(token), d.TimeValue(now.Add(ttl)), d.TimeValue(now), d.TimeValue(now)); err != nil {
		return "", fmt.Errorf("store token: %w", err)
	}
	return token, nil
}

// consumeToken spends a token of kind and returns its user. The conditional update is
// what makes it single-use: two requests racing with one token, one wins.
func (s *Service) consumeToken(ctx context.Context, tn Tenant, kind, token string) (string, error) {
	if token == "" || len(token) > 128 {
		return "", errBadToken()
	}
	d, q := tn.DB.Dialect, tn.DB.Dialect.Quote
	h := auth.HashToken(token)
	var userID string
	err := tn.DB.QueryRowContext(ctx, d.Rebind("SELECT "+q("user_id")+" FROM "+q("strata_user_tokens")+" WHERE "+q("token_hash")+" = ? AND "+q("kind")+" = ?"), h, kind).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errBadToken()
	}
	if err != nil {
		return "", fmt.Errorf("read token: %w", err)
	}
	now := d.TimeValue(s.Now())
	res, err := tn.DB.ExecContext(ctx, d.Rebind("UPDATE "+q("strata_user_tokens")+" SET "+q("used_at")+" = ?, "+q("updated_at")+" = ? WHERE "+q("token_hash")+" = ? AND "+q("used_at")+" IS NULL AND "+q("expires_at")+" > ?"),
		now, now, h, now)
	if err != nil {
		return "", fmt.Errorf("spend token: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return "", errBadToken()
	}
	return userID, nil
}

// MailTarget is who a mail about an account goes to.
type MailTarget struct {
	ID, Email, Status string
}

// UserByEmail finds a user by email (ok false: none).
func (s *Service) UserByEmail(ctx context.Context, tn Tenant, email string) (MailTarget, bool, error) {
	d, q := tn.DB.Dialect, tn.DB.Dialect.Quote
	u := MailTarget{Email: strings.ToLower(strings.TrimSpace(email))}
	err := tn.DB.QueryRowContext(ctx, d.Rebind("SELECT "+q("id")+", "+q("status")+" FROM "+q("strata_users")+" WHERE "+q("email")+" = ?"), u.Email).Scan(&u.ID, &u.Status)
	if errors.Is(err, sql.ErrNoRows) {
		return u, false, nil
	}
	if err != nil {
		return u, false, fmt.Errorf("find user: %w", err)
	}
	return u, true, nil
}

// ResetPassword sets a new password with a reset token and returns the user, whose
// sessions the caller revokes.
func (s *Service) ResetPassword(ctx context.Context, tn Tenant, token, password string) (string, error) {
	hash, err := auth.HashPassword(password)
	if err != nil {
		return "", err
	}
	id, err := s.consumeToken(ctx, tn, TokenPasswordReset, token)
	if err != nil {
		return "", err
	}
	n, err := s.update(ctx, tn, "strata_users", id, map[string]any{"password_hash": hash})
	if err != nil {
		return "", err
	}
	if n == 0 {
		return "", errBadToken()
	}
	return id, nil
}

// Invite adds a user who is to choose a password by the mailed link, and returns their
// id and email. Inviting someone already invited invites them again; anyone else with
// the email is a conflict.
func (s *Service) Invite(ctx context.Context, tn Tenant, email, role string) (MailTarget, error) {
	in := UserInput{Email: &email, Role: &role}
	cols, err := s.userColumns(ctx, tn, in)
	if err != nil {
		return MailTarget{}, err
	}
	if email == "" {
		return MailTarget{}, apierr.InvalidPayload("email", "email is required")
	}
	if err := s.defaultRole(ctx, tn, cols); err != nil {
		return MailTarget{}, err
	}
	u, found, err := s.UserByEmail(ctx, tn, email)
	if err != nil {
		return MailTarget{}, err
	}
	if found {
		if u.Status != "invited" {
			return MailTarget{}, apierr.New(400, "RECORD_NOT_UNIQUE", "%s already has an account", u.Email).With("field", "email")
		}
		if _, err := s.update(ctx, tn, "strata_users", u.ID, map[string]any{"role_id": cols["role_id"]}); err != nil {
			return MailTarget{}, err
		}
		return u, nil
	}
	cols["status"] = "invited"
	u = MailTarget{ID: s.NewID(), Email: cols["email"].(string), Status: "invited"}
	if err := s.insert(ctx, tn, "strata_users", u.ID, cols); err != nil {
		return MailTarget{}, uniqueErr(err, "email")
	}
	return u, nil
}

// AcceptInvite sets the invited user's password and makes them active.
func (s *Service) AcceptInvite(ctx context.Context, tn Tenant, token, password string) (string, error) {
	hash, err := auth.HashPassword(password)
	if err != nil {
		return "", err
	}
	return s.activate(ctx, tn, TokenInvitation, token, "invited", map[string]any{"password_hash": hash})
}

// VerifyEmail makes a signed-up user active.
func (s *Service) VerifyEmail(ctx context.Context, tn Tenant, token string) (string, error) {
	return s.activate(ctx, tn, TokenVerification, token, StatusUnverified, nil)
}

// activate spends a token and makes its user active, if the user is still in status
// from (an invited user an admin suspended since stays suspended).
func (s *Service) activate(ctx context.Context, tn Tenant, kind, token, from string, cols map[string]any) (string, error) {
	id, err := s.consumeToken(ctx, tn, kind, token)
	if err != nil {
		return "", err
	}
	if cols == nil {
		cols = map[string]any{}
	}
	cols["status"] = "active"
	var n int64
	err = s.write(ctx, tn, func(w *records.SystemWriter) error {
		n, err = w.Update(ctx, "strata_users", records.Where{"id": id, "status": from}, cols)
		return err
	})
	if err != nil {
		return "", err
	}
	if n == 0 {
		return "", errBadToken()
	}
	return id, nil
}

// PurgeTokens deletes a tenant's mailed tokens that were used or expired more than a
// day before now (an hourly chore, with the activity purge).
func PurgeTokens(ctx context.Context, db *database.DB, now time.Time) error {
	d, q := db.Dialect, db.Dialect.Quote
	before := d.TimeValue(now.Add(-24 * time.Hour))
	_, err := db.ExecContext(ctx, d.Rebind("DELETE FROM "+q("strata_user_tokens")+" WHERE "+q("expires_at")+" < ? OR "+q("used_at")+" < ?"), before, before)
	if err != nil {
		return fmt.Errorf("purge tokens: %w", err)
	}
	return nil
}
