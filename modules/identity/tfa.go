package identity

import (
	"context"
	"encoding/json"
	"fmt"

	"strata/modules/auth"
	"strata/modules/database"
)

// userFactors keeps tenant users' two-factor secrets in strata_users, which no
// tenant-facing read returns (UserFields leaves them out; the table is not an item).
type userFactors struct{ db *database.DB }

func (u userFactors) Get(ctx context.Context, subject string) (auth.SecondFactor, error) {
	d := u.db.Dialect
	q := d.Quote
	var secret, step, recovery any
	err := u.db.QueryRowContext(ctx, d.Rebind("SELECT "+q("tfa_secret")+", "+q("tfa_step")+", "+q("tfa_recovery")+" FROM "+q("strata_users")+" WHERE "+q("id")+" = ?"), subject).
		Scan(&secret, &step, &recovery)
	if err != nil {
		return auth.SecondFactor{}, fmt.Errorf("read second factor: %w", err)
	}
	f := auth.SecondFactor{Secret: database.Text(secret), LastStep: database.Int64(step)}
	if r := database.Text(recovery); r != "" {
		if err := json.Unmarshal([]byte(r), &f.Recovery); err != nil {
			return auth.SecondFactor{}, fmt.Errorf("read recovery codes: %w", err)
		}
	}
	return f, nil
}

func (u userFactors) Set(ctx context.Context, subject string, f auth.SecondFactor) error {
	d := u.db.Dialect
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
	_, err := u.db.ExecContext(ctx, d.Rebind("UPDATE "+q("strata_users")+" SET "+q("tfa_secret")+" = ?, "+q("tfa_step")+" = ?, "+q("tfa_recovery")+" = ? WHERE "+q("id")+" = ?"),
		secret, step, recovery, subject)
	if err != nil {
		return fmt.Errorf("store second factor: %w", err)
	}
	return nil
}

func (u userFactors) UseStep(ctx context.Context, subject string, step int64) (bool, error) {
	d := u.db.Dialect
	q := d.Quote
	res, err := u.db.ExecContext(ctx, d.Rebind("UPDATE "+q("strata_users")+" SET "+q("tfa_step")+" = ? WHERE "+q("id")+" = ? AND "+q("tfa_secret")+" IS NOT NULL AND ("+q("tfa_step")+" IS NULL OR "+q("tfa_step")+" < ?)"),
		step, subject, step)
	if err != nil {
		return false, fmt.Errorf("use one-time password: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (u userFactors) UseRecovery(ctx context.Context, subject string, f auth.SecondFactor, hash string) (bool, error) {
	d := u.db.Dialect
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
	res, err := u.db.ExecContext(ctx, d.Rebind("UPDATE "+q("strata_users")+" SET "+q("tfa_recovery")+" = ? WHERE "+q("id")+" = ? AND "+q("tfa_recovery")+" = ?"),
		after, subject, string(before))
	if err != nil {
		return false, fmt.Errorf("use recovery code: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
