package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"strata/modules/apierr"
	"strata/modules/database"
	"strata/schema"
)

// PlatformKeyPrefix starts every platform API key, so a door tells one from a tenant's
// key ("sk_") and from a signed token without a lookup.
const PlatformKeyPrefix = "spk_"

// MaxPlatformKeys bounds how many platform keys there can be.
const MaxPlatformKeys = 100

// PlatformKey is a static token that acts as a platform admin: for operators' scripts,
// CI and the gRPC door, which have no one to sign in. Only its hash is stored; the
// token is shown once, when it is made.
type PlatformKey struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Token is set only in the answer that made the key.
	Token string `json:"token,omitempty"`
}

// EnsurePlatformKeys creates the table of platform API keys (a control migration).
func (s *Service) EnsurePlatformKeys(ctx context.Context) error {
	d := s.db.Dialect
	str := func(n int) string { return d.ColumnType(&schema.Column{Type: schema.TypeString, Length: n}) }
	ts := d.ColumnType(&schema.Column{Type: schema.TypeDatetime})
	q := "CREATE TABLE IF NOT EXISTS strata_platform_keys (id " + str(36) + " NOT NULL PRIMARY KEY, name " + str(255) + " NOT NULL, token_hash " + str(64) +
		" NOT NULL UNIQUE, created_by " + str(255) + " NULL, created_at " + ts + " NOT NULL)"
	if _, err := s.db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("create the platform keys table: %w", err)
	}
	return nil
}

// CreatePlatformKey makes a platform key named name; the answer holds its token.
func (s *Service) CreatePlatformKey(ctx context.Context, name, by string) (*PlatformKey, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 255 {
		return nil, apierr.InvalidPayload("name", "name must be 1 to 255 characters")
	}
	d := s.db.Dialect
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM strata_platform_keys").Scan(&n); err != nil {
		return nil, fmt.Errorf("count platform keys: %w", err)
	}
	if n >= MaxPlatformKeys {
		return nil, apierr.InvalidPayload("name", "there are %d platform keys already, the most there can be; delete one first", n)
	}
	k := &PlatformKey{ID: s.cfg.NewID(), Name: name, CreatedBy: by, CreatedAt: s.cfg.Now().UTC().Truncate(time.Microsecond),
		Token: PlatformKeyPrefix + RandomToken(32)}
	if _, err := s.db.ExecContext(ctx, d.Rebind("INSERT INTO strata_platform_keys (id, name, token_hash, created_by, created_at) VALUES (?, ?, ?, ?, ?)"),
		k.ID, k.Name, HashToken(k.Token), database.NullText(by), d.TimeValue(k.CreatedAt)); err != nil {
		return nil, fmt.Errorf("create platform key: %w", err)
	}
	return k, nil
}

// ListPlatformKeys lists the platform keys, oldest first, without their tokens.
func (s *Service) ListPlatformKeys(ctx context.Context) ([]PlatformKey, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, name, created_by, created_at FROM strata_platform_keys ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("list platform keys: %w", err)
	}
	defer rows.Close()
	out := []PlatformKey{}
	for rows.Next() {
		var k PlatformKey
		var by sql.NullString
		var at any
		if err := rows.Scan(&k.ID, &k.Name, &by, &at); err != nil {
			return nil, fmt.Errorf("list platform keys: %w", err)
		}
		k.CreatedBy = by.String
		if t := database.Time(at); t != nil {
			k.CreatedAt = t.UTC()
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeletePlatformKey removes a key; it stops working at once (keys are not cached).
func (s *Service) DeletePlatformKey(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, s.db.Dialect.Rebind("DELETE FROM strata_platform_keys WHERE id = ?"), id)
	if err != nil {
		return fmt.Errorf("delete platform key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apierr.NotFound("platform key %q not found", id)
	}
	return nil
}

// PlatformAdmin checks the credentials of a platform request: a platform admin's
// access token (signed, its session live) or a platform key. The claims of a key name
// it as the subject "key:ID". Every door to the platform (HTTP, gRPC, a platform
// admin on a tenant's routes) checks through here.
func (s *Service) PlatformAdmin(ctx context.Context, token string) (*Claims, error) {
	if token == "" {
		return nil, apierr.Unauthorized("INVALID_CREDENTIALS", "authentication required")
	}
	if strings.HasPrefix(token, PlatformKeyPrefix) {
		var id, name string
		err := s.db.QueryRowContext(ctx, s.db.Dialect.Rebind("SELECT id, name FROM strata_platform_keys WHERE token_hash = ?"), HashToken(token)).Scan(&id, &name)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, apierr.Unauthorized("INVALID_TOKEN", "invalid token")
		}
		if err != nil {
			return nil, fmt.Errorf("look up platform key: %w", err)
		}
		return &Claims{Role: RolePlatformAdmin, Email: name, RegisteredClaims: jwt.RegisteredClaims{Subject: "key:" + id}}, nil
	}
	claims, err := s.Verify(token)
	if err != nil {
		return nil, err
	}
	if claims.Role != RolePlatformAdmin || claims.Tenant != "" {
		return nil, apierr.Forbidden("platform admin role required")
	}
	if err := s.Check(ctx, s.PlatformRealm, claims); err != nil {
		return nil, err
	}
	return claims, nil
}
