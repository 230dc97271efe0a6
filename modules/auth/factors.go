package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"strata/modules/database"
	"strata/schema"
)

// TableFactors keeps subjects' two-factor secrets in three columns of the table their
// identities are in (tfa_secret, tfa_step, tfa_recovery): a tenant's strata_users, which
// no tenant-facing read returns, or the control database's strata_admins.
type TableFactors struct {
	DB    *database.DB
	Table string
}

func (u TableFactors) Get(ctx context.Context, subject string) (SecondFactor, error) {
	d := u.DB.Dialect
	q := d.Quote
	var secret, step, recovery any
	err := u.DB.QueryRowContext(ctx, d.Rebind("SELECT "+q("tfa_secret")+", "+q("tfa_step")+", "+q("tfa_recovery")+" FROM "+q(u.Table)+" WHERE "+q("id")+" = ?"), subject).
		Scan(&secret, &step, &recovery)
	if err != nil {
		return SecondFactor{}, fmt.Errorf("read second factor: %w", err)
	}
	f := SecondFactor{Secret: database.Text(secret), LastStep: database.Int64(step)}
	if r := database.Text(recovery); r != "" {
		if err := json.Unmarshal([]byte(r), &f.Recovery); err != nil {
			return SecondFactor{}, fmt.Errorf("read recovery codes: %w", err)
		}
	}
	return f, nil
}

func (u TableFactors) Set(ctx context.Context, subject string, f SecondFactor) error {
	d := u.DB.Dialect
	q := d.Quote
	var recovery any
	if len(f.Recovery) > 0 {
		b, _ := json.Marshal(f.Recovery)
		recovery = string(b)
	}
	var secret, step any
	if f.Secret != "" {
		secret, step = f.Secret, f.LastStep
	}
	_, err := u.DB.ExecContext(ctx, d.Rebind("UPDATE "+q(u.Table)+" SET "+q("tfa_secret")+" = ?, "+q("tfa_step")+" = ?, "+q("tfa_recovery")+" = ? WHERE "+q("id")+" = ?"),
		secret, step, recovery, subject)
	if err != nil {
		return fmt.Errorf("store second factor: %w", err)
	}
	return nil
}

func (u TableFactors) UseStep(ctx context.Context, subject string, step int64) (bool, error) {
	d := u.DB.Dialect
	q := d.Quote
	res, err := u.DB.ExecContext(ctx, d.Rebind("UPDATE "+q(u.Table)+" SET "+q("tfa_step")+" = ? WHERE "+q("id")+" = ? AND "+q("tfa_secret")+" IS NOT NULL AND ("+q("tfa_step")+" IS NULL OR "+q("tfa_step")+" < ?)"),
		step, subject, step)
	if err != nil {
		return false, fmt.Errorf("use one-time password: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (u TableFactors) UseRecovery(ctx context.Context, subject string, f SecondFactor, hash string) (bool, error) {
	d := u.DB.Dialect
	q := d.Quote
	before, _ := json.Marshal(f.Recovery)
	var left []string
	for _, h := range f.Recovery {
		if h != hash {
			left = append(left, h)
		}
	}
	var after any
	if len(left) > 0 {
		b, _ := json.Marshal(left)
		after = string(b)
	}
	// Only if the codes are still those read: two sign-ins with one code, one wins.
	res, err := u.DB.ExecContext(ctx, d.Rebind("UPDATE "+q(u.Table)+" SET "+q("tfa_recovery")+" = ? WHERE "+q("id")+" = ? AND "+q("tfa_recovery")+" = ?"),
		after, subject, string(before))
	if err != nil {
		return false, fmt.Errorf("use recovery code: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// AddAdminFactors gives platform admins the two-factor columns (a control step).
func (s *Service) AddAdminFactors(ctx context.Context) error {
	d := s.db.Dialect
	text := d.ColumnType(&schema.Column{Type: schema.TypeText})
	for _, col := range []string{"tfa_secret " + text, "tfa_step " + d.ColumnType(&schema.Column{Type: schema.TypeBigint}), "tfa_recovery " + text} {
		if _, err := s.db.ExecContext(ctx, "ALTER TABLE strata_admins ADD COLUMN "+col+" NULL"); err != nil {
			return fmt.Errorf("add two-factor to platform admins: %w", err)
		}
	}
	return nil
}

// ResetAdminTFA turns a platform admin's two-factor off, for an operator who lost both
// the authenticator and the recovery codes (strata admin reset-password --tfa-off).
func (s *Service) ResetAdminTFA(ctx context.Context, email string) error {
	d := s.db.Dialect
	res, err := s.db.ExecContext(ctx, d.Rebind("UPDATE strata_admins SET tfa_secret = NULL, tfa_step = NULL, tfa_recovery = NULL WHERE email = ?"), strings.ToLower(email))
	if err != nil {
		return fmt.Errorf("turn the admin's two-factor off: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNoSuchAdmin
	}
	return nil
}
