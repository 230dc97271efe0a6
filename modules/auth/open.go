package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"strata/modules/apierr"
)

// ErrSecondFactorRequired is SignInVerified's answer, with no session opened, for a
// subject whose two-factor sign-in is on when no one-time password came: the caller
// asks for one (and calls again with it), so another way in never skips the second
// factor.
var ErrSecondFactorRequired = errors.New("a one-time password is required")

// SignInVerified opens a session for subject, whom something other than a password
// authenticated (a sign-in provider). The subject is read again here, so a deleted or
// disabled account, or a changed role, counts as at a password sign-in; and its second
// factor is asked for as there: with two-factor on, an empty code is
// ErrSecondFactorRequired and a wrong or used one 401 INVALID_OTP. before, when set,
// runs once every check has passed and before the session opens; its error stops the
// sign-in (a single-use ticket is spent there, so two requests with one ticket cannot
// both sign in).
func (s *Service) SignInVerified(ctx context.Context, r *Realm, subject, code string, before func(context.Context) error) (*Tokens, error) {
	email, role, active, err := r.Subject(ctx, subject)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !active) {
		return nil, apierr.Unauthorized("INVALID_CREDENTIALS", "the account does not exist or may not sign in")
	}
	if err != nil {
		return nil, fmt.Errorf("read the subject: %w", err)
	}
	if on, err := s.checkSecondFactor(ctx, r, subject, code); err != nil {
		if on && strings.TrimSpace(code) == "" {
			return nil, ErrSecondFactorRequired
		}
		return nil, err
	}
	if before != nil {
		if err := before(ctx); err != nil {
			return nil, err
		}
	}
	return s.issue(ctx, r, subject, email, role, s.cfg.NewID())
}
