// Package auth owns platform identities and tokens: platform admins, JWT access tokens
// and rotating refresh tokens stored hashed in the control database. A refresh token
// used again within ReuseInterval of its rotation gets the same successor (two tabs
// refreshing at once both stay signed in); used again later, it revokes its whole
// session family. Tenant users, roles and permissions are a separate concern built on
// the same token format.
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"strata/modules/apierr"
	"strata/modules/cache"
	"strata/modules/database"
	"strata/schema"
)

// RolePlatformAdmin is the role claim of platform administrators.
const RolePlatformAdmin = "platform_admin"

// Claims are what an access token says about its bearer: who (Subject), in which
// tenant (empty for platform admins), with which role, in which session.
type Claims struct {
	Role    string `json:"role"`
	Email   string `json:"email,omitempty"`
	Tenant  string `json:"tenant,omitempty"`
	Session string `json:"sid,omitempty"`
	jwt.RegisteredClaims
}

// Tokens are returned by login and refresh. Expires is the access token's lifetime in ms.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Expires      int64  `json:"expires"`
	// Subject is whom the tokens are for (never sent: the access token says it).
	Subject string `json:"-"`
}

// Config sets token lifetimes.
type Config struct {
	Secret     []byte
	AccessTTL  time.Duration
	RefreshTTL time.Duration
	// SessionTTL is how long a node trusts what it checked of a session (live, the
	// subject's role and status) without word of a change (default 1s).
	SessionTTL time.Duration
	// ReuseInterval is how long a rotated refresh token is still answered, with the same
	// successor, rather than taken for a stolen one (0: never).
	ReuseInterval time.Duration
	Now           func() time.Time
	NewID         func() string
}

// Service authenticates platform admins.
type Service struct {
	db           *database.DB
	cfg          Config
	successorKey []byte
	dummy        struct {
		once sync.Once
		hash []byte
	}
	// verified remembers tokens whose signature was checked, until they expire:
	// checking it again on every request was a sixth of the CPU of a simple read. What
	// can change before expiry, the session and its subject, is Check's.
	verified struct {
		sync.Mutex
		m map[string]*Claims
	}
	// sessions keeps, per tenant, subject and session, what Check read: dropped when the
	// node hears of a revocation or a change to the subject (ForgetSessions).
	sessions cache.TTL[liveSession]
	// factors keeps, per tenant and subject, whether two-factor is on (SecondFactorOn).
	factors  cache.TTL[bool]
	onRevoke func(tenantID, subject string)
}

// liveSession is what Check read of a session: whether it may be used, and its
// subject's role now.
type liveSession struct {
	ok   bool
	role string
}

// verifiedCacheSize bounds the verified-token cache; past it the cache starts over.
const verifiedCacheSize = 10000

// dummyHash is a real bcrypt hash to compare against when the email is unknown.
func (s *Service) dummyHash() []byte {
	s.dummy.once.Do(func() {
		s.dummy.hash, _ = bcrypt.GenerateFromPassword([]byte(RandomToken(16)), bcrypt.DefaultCost)
	})
	return s.dummy.hash
}

// NewService returns a Service over the control database.
func NewService(db *database.DB, cfg Config) *Service {
	if cfg.AccessTTL == 0 {
		cfg.AccessTTL = 15 * time.Minute
	}
	if cfg.RefreshTTL == 0 {
		cfg.RefreshTTL = 7 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := hmac.New(sha256.New, cfg.Secret)
	m.Write([]byte("strata refresh successor v1"))
	s := &Service{db: db, cfg: cfg, successorKey: m.Sum(nil)}
	s.sessions.TTL, s.sessions.Max = cfg.SessionTTL, 100000
	s.factors.TTL, s.factors.Max = cfg.SessionTTL, 100000
	return s
}

// OnRevoke registers f to hear of every session family this service revokes (sign-out,
// a refresh token reused too late), so the caller can tell the other nodes.
func (s *Service) OnRevoke(f func(tenantID, subject string)) { s.onRevoke = f }

// ForgetSessions drops what Check cached of subject's sessions in a tenant ("" for
// platform admins), or of every session of the tenant when subject is empty.
func (s *Service) ForgetSessions(tenantID, subject string) {
	prefix := tenantID + "\x00"
	if subject != "" {
		prefix += subject + "\x00"
	}
	s.sessions.DropPrefix(prefix)
	s.factors.DropPrefix(prefix)
}

// ForgetAllSessions drops everything Check cached (the bus may have lost messages).
func (s *Service) ForgetAllSessions() {
	s.sessions.DropAll()
	s.factors.DropAll()
}

// Check refuses an access token whose session was revoked (sign-out, reuse), whose
// subject is gone or disabled, or whose role is no longer the subject's: a token must
// not outlive any of these until its expiry. What it reads is cached per node, and
// dropped on word of a change (ForgetSessions), so the check costs a map lookup per
// request. realm is called only to read.
func (s *Service) Check(ctx context.Context, realm func() *Realm, c *Claims) error {
	if c.Session == "" {
		return apierr.Unauthorized("INVALID_TOKEN", "the token names no session")
	}
	key := c.Tenant + "\x00" + c.Subject + "\x00" + c.Session
	v, gen, fresh := s.sessions.Get(key)
	if !fresh {
		var err error
		if v, err = s.readSession(ctx, realm(), c); err != nil {
			return err
		}
		s.sessions.Put(key, v, gen)
	}
	if !v.ok {
		return apierr.Unauthorized("INVALID_TOKEN", "the session was signed out or revoked, or the account disabled")
	}
	if v.role != c.Role {
		// A refresh gives a token with the role the subject has now.
		return apierr.Unauthorized("TOKEN_EXPIRED", "the account's role changed; refresh the token")
	}
	return nil
}

// SecondFactorOn reports whether c's subject has two-factor on. It is read only where
// a policy asks (an admin of a tenant that requires it), and cached as Check's reads
// are, dropped with them (ForgetSessions), so turning it on counts at once.
func (s *Service) SecondFactorOn(ctx context.Context, realm func() *Realm, c *Claims) (bool, error) {
	key := c.Tenant + "\x00" + c.Subject + "\x00"
	on, gen, fresh := s.factors.Get(key)
	if fresh {
		return on, nil
	}
	r := realm()
	if r.TFA == nil {
		return false, nil
	}
	f, err := r.TFA.Get(ctx, c.Subject)
	if err != nil {
		return false, err
	}
	on = f.Secret != ""
	s.factors.Put(key, on, gen)
	return on, nil
}

func (s *Service) readSession(ctx context.Context, r *Realm, c *Claims) (liveSession, error) {
	d := r.DB.Dialect
	var n int
	if err := r.DB.QueryRowContext(ctx, d.Rebind("SELECT COUNT(*) FROM "+d.Quote(r.Sessions)+" WHERE family = ? AND revoked_at IS NULL"), c.Session).Scan(&n); err != nil {
		return liveSession{}, fmt.Errorf("check session: %w", err)
	}
	if n == 0 {
		return liveSession{}, nil
	}
	_, role, active, err := r.Subject(ctx, c.Subject)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !active) {
		return liveSession{}, nil
	}
	if err != nil {
		return liveSession{}, fmt.Errorf("check session subject: %w", err)
	}
	return liveSession{ok: true, role: role}, nil
}

// successor is the refresh token that replaces refresh in its session family. It is
// derived (HMAC under a key of its own, derived from the JWT secret) rather than drawn
// at random, so that a reuse within ReuseInterval can be answered with the same token
// again while the database keeps only hashes: nothing stored can be used as a token.
func (s *Service) successor(family, refresh string) string {
	m := hmac.New(sha256.New, s.successorKey)
	m.Write([]byte(family + "\x00" + refresh))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// EnsureSchema creates the control tables auth uses.
func (s *Service) EnsureSchema(ctx context.Context) error {
	d := s.db.Dialect
	str := func(n int) string { return d.ColumnType(&schema.Column{Type: schema.TypeString, Length: n}) }
	ts := d.ColumnType(&schema.Column{Type: schema.TypeDatetime})
	for _, q := range []string{
		"CREATE TABLE IF NOT EXISTS strata_admins (id " + str(36) + " NOT NULL PRIMARY KEY, email " + str(255) + " NOT NULL UNIQUE, password_hash " + str(255) + " NOT NULL, created_at " + ts + " NOT NULL)",
		"CREATE TABLE IF NOT EXISTS strata_sessions (id " + str(36) + " NOT NULL PRIMARY KEY, subject_id " + str(36) + " NOT NULL, family " + str(36) + " NOT NULL, token_hash " + str(64) + " NOT NULL UNIQUE, expires_at " + ts + " NOT NULL, used_at " + ts + " NULL, revoked_at " + ts + " NULL, created_at " + ts + " NOT NULL, updated_at " + ts + " NOT NULL)",
	} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("create auth tables: %w", err)
		}
	}
	return nil
}

// IndexSessionFamilies indexes platform sessions by family (control migration 4):
// every request's session check reads them by it.
func (s *Service) IndexSessionFamilies(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, "CREATE INDEX strata_sessions_family ON strata_sessions (family)"); err != nil {
		return fmt.Errorf("index sessions by family: %w", err)
	}
	return nil
}

// EnsureAdmin creates the first platform admin when there is none. It returns the
// password it generated when password was empty, so the caller can show it once.
func (s *Service) EnsureAdmin(ctx context.Context, email, password string) (generated string, err error) {
	d := s.db.Dialect
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM strata_admins").Scan(&n); err != nil {
		return "", fmt.Errorf("count admins: %w", err)
	}
	if n > 0 {
		return "", nil
	}
	if email == "" {
		email = "admin@example.com"
	}
	hash, generated, err := adminPassword(password)
	if err != nil {
		return "", err
	}
	_, err = s.db.ExecContext(ctx, d.Rebind("INSERT INTO strata_admins (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)"),
		s.cfg.NewID(), strings.ToLower(email), string(hash), d.TimeValue(s.cfg.Now()))
	if err != nil {
		// Another node may have created it at the same moment.
		if err2 := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM strata_admins").Scan(&n); err2 == nil && n > 0 {
			return "", nil
		}
		return "", fmt.Errorf("create admin: %w", err)
	}
	return generated, nil
}

// Realm is where one kind of identity lives: platform admins in the control database,
// or one tenant's users in that tenant's database. Sessions sit beside the users.
type Realm struct {
	DB       *database.DB
	Users    string // id, email, password_hash [, role_id, status]
	Sessions string // id, subject_id, family, token_hash, expires_at, used_at, revoked_at, created_at, updated_at
	// TenantID is empty for the platform realm; tokens carry it, so a token of one
	// tenant is never accepted by another.
	TenantID string
	// Lookup finds an identity by email (id, password hash, role, and whether it may
	// sign in); Subject re-reads one at refresh, so a deleted or suspended user, or a
	// changed role, takes effect then.
	Lookup  func(ctx context.Context, email string) (id, hash, role string, active bool, err error)
	Subject func(ctx context.Context, id string) (email, role string, active bool, err error)
	// TFA keeps subjects' two-factor secrets; nil where the realm has none (platform).
	TFA SecondFactors
}

// adminPassword hashes a platform admin's password, generating one when it is empty
// (returned as generated, to be shown once).
func adminPassword(password string) (hash []byte, generated string, err error) {
	if password == "" {
		password = RandomToken(12)
		generated = password
	}
	hash, err = bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return nil, "", fmt.Errorf("hash admin password: %w", err)
	}
	return hash, generated, nil
}

// ErrNoSuchAdmin is ResetAdminPassword's answer for an email no platform admin has.
var ErrNoSuchAdmin = errors.New("no platform admin has that email")

// ResetAdminPassword sets a platform admin's password (a generated one, returned, when
// password is empty) and revokes the admin's sessions: whoever held them signs in anew.
// It is the way back in for an operator who lost the password (strata admin
// reset-password).
func (s *Service) ResetAdminPassword(ctx context.Context, email, password string) (generated string, err error) {
	hash, generated, err := adminPassword(password)
	if err != nil {
		return "", err
	}
	d := s.db.Dialect
	var id string
	if err := s.db.QueryRowContext(ctx, d.Rebind("SELECT id FROM strata_admins WHERE email = ?"), strings.ToLower(email)).Scan(&id); errors.Is(err, sql.ErrNoRows) {
		return "", ErrNoSuchAdmin
	} else if err != nil {
		return "", fmt.Errorf("find admin: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("reset admin password: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, d.Rebind("UPDATE strata_admins SET password_hash = ? WHERE id = ?"), string(hash), id); err != nil {
		return "", fmt.Errorf("reset admin password: %w", err)
	}
	if _, err := tx.ExecContext(ctx, d.Rebind("UPDATE strata_sessions SET revoked_at = ? WHERE subject_id = ? AND revoked_at IS NULL"), d.TimeValue(s.cfg.Now()), id); err != nil {
		return "", fmt.Errorf("revoke admin sessions: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("reset admin password: %w", err)
	}
	s.ForgetSessions("", id)
	return generated, nil
}

// PlatformRealm is the realm of platform admins.
func (s *Service) PlatformRealm() *Realm {
	d := s.db.Dialect
	return &Realm{DB: s.db, Users: "strata_admins", Sessions: "strata_sessions", TFA: TableFactors{DB: s.db, Table: "strata_admins"},
		Lookup: func(ctx context.Context, email string) (string, string, string, bool, error) {
			var id, hash string
			err := s.db.QueryRowContext(ctx, d.Rebind("SELECT id, password_hash FROM strata_admins WHERE email = ?"), email).Scan(&id, &hash)
			return id, hash, RolePlatformAdmin, true, err
		},
		Subject: func(ctx context.Context, id string) (string, string, bool, error) {
			var email string
			err := s.db.QueryRowContext(ctx, d.Rebind("SELECT email FROM strata_admins WHERE id = ?"), id).Scan(&email)
			return email, RolePlatformAdmin, err == nil, err
		},
	}
}

// Login checks a password in a realm and opens a session. Unknown emails, wrong
// passwords and disabled accounts get the same answer in the same time.
func (s *Service) Login(ctx context.Context, r *Realm, email, password, code string) (*Tokens, error) {
	id, hash, role, active, err := r.Lookup(ctx, strings.ToLower(strings.TrimSpace(email)))
	if errors.Is(err, sql.ErrNoRows) || (err == nil && hash == "") {
		_ = bcrypt.CompareHashAndPassword(s.dummyHash(), []byte(password))
		return nil, apierr.Unauthorized("INVALID_CREDENTIALS", "invalid email or password")
	}
	if err != nil {
		return nil, fmt.Errorf("look up identity: %w", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil || !active {
		return nil, apierr.Unauthorized("INVALID_CREDENTIALS", "invalid email or password")
	}
	if _, err := s.checkSecondFactor(ctx, r, id, code); err != nil {
		return nil, err
	}
	return s.issue(ctx, r, id, strings.ToLower(email), role, s.cfg.NewID())
}

// issue opens a session: an access token and a new random refresh token.
func (s *Service) issue(ctx context.Context, r *Realm, subject, email, role, family string) (*Tokens, error) {
	refresh := RandomToken(32)
	if err := s.store(ctx, r.DB, r, subject, family, refresh); err != nil {
		return nil, err
	}
	return s.tokens(r, subject, email, role, family, refresh)
}

// tokens signs an access token for the session family and pairs it with refresh.
func (s *Service) tokens(r *Realm, subject, email, role, family, refresh string) (*Tokens, error) {
	now := s.cfg.Now()
	claims := Claims{Role: role, Email: email, Tenant: r.TenantID, Session: family, RegisteredClaims: jwt.RegisteredClaims{
		Subject: subject, Issuer: "strata", IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(s.cfg.AccessTTL)), ID: s.cfg.NewID(),
	}}
	access, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.cfg.Secret)
	if err != nil {
		return nil, fmt.Errorf("sign access token: %w", err)
	}
	return &Tokens{AccessToken: access, RefreshToken: refresh, Expires: s.cfg.AccessTTL.Milliseconds(), Subject: subject}, nil
}

// store records a refresh token (hashed) in the session family.
func (s *Service) store(ctx context.Context, q execer, r *Realm, subject, family, refresh string) error {
	d := r.DB.Dialect
	now := s.cfg.Now()
	_, err := q.ExecContext(ctx, d.Rebind("INSERT INTO "+d.Quote(r.Sessions)+" (id, subject_id, family, token_hash, expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"),
		s.cfg.NewID(), subject, family, HashToken(refresh), d.TimeValue(now.Add(s.cfg.RefreshTTL)), d.TimeValue(now), d.TimeValue(now))
	if err != nil {
		return fmt.Errorf("store session: %w", err)
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// session is one refresh token's row.
type session struct {
	id, subject, family    string
	expires, used, revoked any
}

func (s *Service) session(ctx context.Context, r *Realm, refresh string) (*session, error) {
	d := r.DB.Dialect
	var row session
	err := r.DB.QueryRowContext(ctx, d.Rebind("SELECT id, subject_id, family, expires_at, used_at, revoked_at FROM "+d.Quote(r.Sessions)+" WHERE token_hash = ?"), HashToken(refresh)).
		Scan(&row.id, &row.subject, &row.family, &row.expires, &row.used, &row.revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apierr.Unauthorized("INVALID_TOKEN", "invalid refresh token")
	}
	if err != nil {
		return nil, fmt.Errorf("look up session: %w", err)
	}
	return &row, nil
}

// Refresh rotates a refresh token. The same token again within ReuseInterval of its
// rotation (two tabs refreshing at once) gets the same successor and an access token
// for the same session; later, it means the token was stolen or replayed, and the
// whole family is revoked.
func (s *Service) Refresh(ctx context.Context, r *Realm, refresh string) (*Tokens, error) {
	if refresh == "" {
		return nil, apierr.InvalidPayload("refresh_token", "refresh_token is required")
	}
	row, err := s.session(ctx, r, refresh)
	if err != nil {
		return nil, err
	}
	if row.used == nil && row.revoked == nil {
		if exp := database.Time(row.expires); exp == nil || exp.Before(s.cfg.Now()) {
			return nil, apierr.Unauthorized("TOKEN_EXPIRED", "refresh token expired")
		}
		email, role, active, err := r.Subject(ctx, row.subject)
		if err != nil || !active {
			return nil, apierr.Unauthorized("INVALID_TOKEN", "the account no longer exists or is disabled")
		}
		next := s.successor(row.family, refresh)
		won, err := s.rotate(ctx, r, row, next)
		if err != nil {
			return nil, err
		}
		if won {
			return s.tokens(r, row.subject, email, role, row.family, next)
		}
		// Another refresh with this token rotated it first: answer as a reuse.
		if row, err = s.session(ctx, r, refresh); err != nil {
			return nil, err
		}
	}
	return s.reuse(ctx, r, row, refresh)
}

// rotate marks the token used and stores its successor, in one transaction: a
// concurrent refresh with the same token waits on the row, then finds it used with the
// successor already there. It reports false when another refresh rotated it first.
func (s *Service) rotate(ctx context.Context, r *Realm, row *session, next string) (bool, error) {
	d := r.DB.Dialect
	tx, err := r.DB.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("rotate session: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	res, err := tx.ExecContext(ctx, d.Rebind("UPDATE "+d.Quote(r.Sessions)+" SET used_at = ? WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL"), d.TimeValue(s.cfg.Now()), row.id)
	if err != nil {
		return false, fmt.Errorf("rotate session: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return false, nil
	}
	if err := s.store(ctx, tx, r, row.subject, row.family, next); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("rotate session: %w", err)
	}
	return true, nil
}

// reuse answers a refresh token that was already rotated (or revoked).
func (s *Service) reuse(ctx context.Context, r *Realm, row *session, refresh string) (*Tokens, error) {
	used := database.Time(row.used)
	if row.revoked != nil || used == nil || s.cfg.Now().Sub(*used) > s.cfg.ReuseInterval {
		if err := s.revokeFamily(ctx, r, row.subject, row.family); err != nil {
			return nil, err
		}
		return nil, apierr.Unauthorized("INVALID_TOKEN", "refresh token was already used; the session is revoked")
	}
	next := s.successor(row.family, refresh)
	succ, err := s.session(ctx, r, next)
	if err != nil || succ.revoked != nil || succ.family != row.family {
		// Rotated by a Strata that drew successors at random, or revoked since.
		return nil, apierr.Unauthorized("INVALID_TOKEN", "refresh token was already used")
	}
	email, role, active, err := r.Subject(ctx, row.subject)
	if err != nil || !active {
		return nil, apierr.Unauthorized("INVALID_TOKEN", "the account no longer exists or is disabled")
	}
	return s.tokens(r, row.subject, email, role, row.family, next)
}

// revokeFamily revokes every refresh token of a session family.
func (s *Service) revokeFamily(ctx context.Context, r *Realm, subject, family string) error {
	d := r.DB.Dialect
	if _, err := r.DB.ExecContext(ctx, d.Rebind("UPDATE "+d.Quote(r.Sessions)+" SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL"), d.TimeValue(s.cfg.Now()), family); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	s.ForgetSessions(r.TenantID, subject)
	if s.onRevoke != nil {
		s.onRevoke(r.TenantID, subject)
	}
	return nil
}

// Logout revokes the session family of a refresh token.
func (s *Service) Logout(ctx context.Context, r *Realm, refresh string) error {
	row, err := s.session(ctx, r, refresh)
	if err != nil {
		return err
	}
	return s.revokeFamily(ctx, r, row.subject, row.family)
}

// Verify checks an access token and returns its claims.
func (s *Service) Verify(token string) (*Claims, error) {
	s.verified.Lock()
	c, ok := s.verified.m[token]
	s.verified.Unlock()
	if ok {
		if c.ExpiresAt != nil && s.cfg.Now().Before(c.ExpiresAt.Time) {
			return c, nil
		}
		return nil, apierr.Unauthorized("TOKEN_EXPIRED", "token expired")
	}
	c, err := s.verify(token)
	if err != nil {
		return nil, err
	}
	s.verified.Lock()
	if s.verified.m == nil || len(s.verified.m) >= verifiedCacheSize {
		s.verified.m = make(map[string]*Claims)
	}
	// A key must own its bytes: the caller's string may point into a reused buffer.
	s.verified.m[strings.Clone(token)] = c
	s.verified.Unlock()
	return c, nil
}

func (s *Service) verify(token string) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) { return s.cfg.Secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer("strata"), jwt.WithTimeFunc(s.cfg.Now))
	if errors.Is(err, jwt.ErrTokenExpired) {
		return nil, apierr.Unauthorized("TOKEN_EXPIRED", "token expired")
	}
	if err != nil {
		return nil, apierr.Unauthorized("INVALID_TOKEN", "invalid token")
	}
	return &c, nil
}

// RandomToken is n random bytes, URL-safe base64: tokens, secrets, states.
func RandomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // the system's randomness source failing is not recoverable
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashToken is the SHA-256 of a token, in hex: what is stored of it.
func HashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// HashPassword hashes a password for storage (bcrypt).
func HashPassword(pw string) (string, error) {
	if len(pw) < 8 || len(pw) > 72 {
		return "", apierr.InvalidPayload("password", "password must be 8 to 72 characters")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// NewAPIKey makes a static token and the hash stored for it; the token is shown once.
func NewAPIKey() (token, hash string) {
	token = "sk_" + RandomToken(24)
	return token, HashToken(token)
}
