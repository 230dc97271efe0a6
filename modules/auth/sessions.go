package auth

import (
	"context"
	"fmt"
	"slices"
	"time"

	"strata/modules/apierr"
	"strata/modules/database"
)

// Session is one signed-in session of a subject: a refresh-token family, from its
// sign-in to its latest refresh.
type Session struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	// Current marks the session the asking token belongs to.
	Current bool `json:"current"`
}

// MaxSessionsListed bounds a subject's session list: a script signing in in a loop
// must not make the answer unbounded.
const MaxSessionsListed = 200

// Sessions lists subject's live sessions (not revoked, not expired), newest first;
// current is the family of the asking token.
func (s *Service) Sessions(ctx context.Context, r *Realm, subject, current string) ([]Session, error) {
	d := r.DB.Dialect
	q := "SELECT family, MIN(created_at), MAX(created_at), MAX(expires_at) FROM " + d.Quote(r.Sessions) +
		" WHERE subject_id = ? AND revoked_at IS NULL GROUP BY family"
	rows, err := r.DB.QueryContext(ctx, d.Rebind(q), subject)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	now := s.cfg.Now()
	out := []Session{}
	for rows.Next() {
		var family string
		var created, used, expires any
		if err := rows.Scan(&family, &created, &used, &expires); err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		exp := database.Time(expires)
		if exp == nil || exp.Before(now) {
			continue
		}
		sess := Session{ID: family, ExpiresAt: exp.UTC(), Current: family == current}
		if t := database.Time(created); t != nil {
			sess.CreatedAt = t.UTC()
		}
		if t := database.Time(used); t != nil {
			sess.LastUsedAt = t.UTC()
		}
		out = append(out, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	slices.SortFunc(out, func(a, b Session) int { return b.LastUsedAt.Compare(a.LastUsedAt) })
	if len(out) > MaxSessionsListed {
		out = out[:MaxSessionsListed]
	}
	return out, nil
}

// EndSession signs one of subject's sessions out: its refresh tokens are revoked and
// its access tokens refused from the next request. A session that is not subject's,
// or already ended, is not found.
func (s *Service) EndSession(ctx context.Context, r *Realm, subject, id string) error {
	d := r.DB.Dialect
	var n int
	if err := r.DB.QueryRowContext(ctx, d.Rebind("SELECT COUNT(*) FROM "+d.Quote(r.Sessions)+" WHERE family = ? AND subject_id = ? AND revoked_at IS NULL"),
		id, subject).Scan(&n); err != nil {
		return fmt.Errorf("find session: %w", err)
	}
	if n == 0 {
		return apierr.NotFound("no session %q", id)
	}
	return s.revokeFamily(ctx, r, subject, id)
}
