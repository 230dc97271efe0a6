// Package settings is the one reader and writer of a tenant's settings row: sign-up,
// the approval policy, CORS origins, GraphQL introspection. Reads are cached per tenant
// for a TTL and dropped at once where Invalidate is called (on the node that wrote,
// and on the others when the bus brings word), so every surface and the migration
// service see the same policy.
package settings

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"strata/modules/apierr"
	"strata/modules/cache"
	"strata/modules/database"
)

// Settings is one tenant's settings.
type Settings struct {
	ProjectName string `json:"project_name"`
	AllowSignup bool   `json:"allow_signup"`
	// RequireApproval is "none", "destructive" or "all": which schema changes are held
	// as pending migrations until an admin approves them.
	RequireApproval string   `json:"require_approval"`
	CORSOrigins     []string `json:"cors_origins"`
	// GraphQLIntrospection allows __schema, __type and /graphql/sdl.
	GraphQLIntrospection bool `json:"graphql_introspection"`
}

// Patch is a change to some settings; nil fields stay as they are.
type Patch struct {
	ProjectName          *string   `json:"project_name,omitempty"`
	AllowSignup          *bool     `json:"allow_signup,omitempty"`
	RequireApproval      *string   `json:"require_approval,omitempty"`
	CORSOrigins          *[]string `json:"cors_origins,omitempty"`
	GraphQLIntrospection *bool     `json:"graphql_introspection,omitempty"`
}

// MaxCORSOrigins bounds a tenant's allowed origins.
const MaxCORSOrigins = 100

// Service reads and writes settings.
type Service struct {
	// TTL is how long a read is trusted without word of a change (default 1s).
	TTL  time.Duration
	once sync.Once
	c    cache.TTL[Settings]
}

// cache is the cache, configured from TTL on first use (the same as access.Store).
func (s *Service) cache() *cache.TTL[Settings] {
	s.once.Do(func() { s.c.TTL, s.c.Max = s.TTL, 100000 })
	return &s.c
}

// Invalidate forgets what this node read of a tenant's settings.
func (s *Service) Invalidate(tenantID string) { s.cache().Drop(tenantID) }

// InvalidateAll forgets every tenant's (after the bus lost messages).
func (s *Service) InvalidateAll() { s.cache().DropAll() }

// Get returns a tenant's settings.
func (s *Service) Get(ctx context.Context, tenantID string, db *database.DB) (Settings, error) {
	v, gen, ok := s.cache().Get(tenantID)
	if ok {
		return v, nil
	}
	d := db.Dialect
	q := d.Quote
	var name, signup, approval, origins, introspection any
	err := db.QueryRowContext(ctx, "SELECT "+q("project_name")+", "+q("allow_signup")+", "+q("require_approval")+", "+q("cors_origins")+", "+
		q("graphql_introspection")+" FROM "+q("settings")).Scan(&name, &signup, &approval, &origins, &introspection)
	if err != nil {
		return Settings{}, fmt.Errorf("read settings: %w", err)
	}
	st := Settings{ProjectName: database.Text(name), AllowSignup: database.Bool(signup), RequireApproval: database.Text(approval),
		GraphQLIntrospection: database.Bool(introspection), CORSOrigins: []string{}}
	if raw := database.Text(origins); raw != "" {
		if err := json.Unmarshal([]byte(raw), &st.CORSOrigins); err != nil {
			return Settings{}, fmt.Errorf("read settings: cors_origins: %w", err)
		}
	}
	if st.RequireApproval == "" {
		st.RequireApproval = "none"
	}
	s.cache().Put(tenantID, st, gen)
	return st, nil
}

// Update validates and writes a patch, forgets this node's copy and returns the
// settings as they now are. The caller tells the other nodes (bus).
func (s *Service) Update(ctx context.Context, tenantID string, db *database.DB, p Patch) (Settings, error) {
	d := db.Dialect
	cols := map[string]any{}
	if p.ProjectName != nil {
		if len(*p.ProjectName) > 200 {
			return Settings{}, apierr.InvalidPayload("project_name", "project_name is at most 200 characters")
		}
		cols["project_name"] = *p.ProjectName
	}
	if p.AllowSignup != nil {
		cols["allow_signup"] = d.BoolValue(*p.AllowSignup)
	}
	if p.RequireApproval != nil {
		switch *p.RequireApproval {
		case "none", "destructive", "all":
			cols["require_approval"] = *p.RequireApproval
		default:
			return Settings{}, apierr.InvalidPayload("require_approval", "require_approval must be none, destructive or all")
		}
	}
	if p.GraphQLIntrospection != nil {
		cols["graphql_introspection"] = d.BoolValue(*p.GraphQLIntrospection)
	}
	if p.CORSOrigins != nil {
		origins, err := OriginList(*p.CORSOrigins)
		if err != nil {
			return Settings{}, err
		}
		b, _ := json.Marshal(origins)
		cols["cors_origins"] = string(b)
	}
	if len(cols) == 0 {
		return Settings{}, apierr.InvalidPayload("body", "nothing to change")
	}
	keys := make([]string, 0, len(cols))
	for k := range cols {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	sets, args := make([]string, len(keys)), make([]any, len(keys))
	for i, k := range keys {
		sets[i], args[i] = d.Quote(k)+" = ?", cols[k]
	}
	if _, err := db.ExecContext(ctx, d.Rebind("UPDATE "+d.Quote("settings")+" SET "+strings.Join(sets, ", ")), args...); err != nil {
		return Settings{}, fmt.Errorf("write settings: %w", err)
	}
	s.Invalidate(tenantID)
	return s.Get(ctx, tenantID, db)
}

// OriginList checks allowed origins and writes them as browsers send them
// (scheme://host[:port], lower case, no path), so that the exact comparison with a
// request's Origin header matches: "https://App.example.com/" would never have.
func OriginList(in []string) ([]string, error) {
	if len(in) > MaxCORSOrigins {
		return nil, apierr.InvalidPayload("cors_origins", "at most %d origins", MaxCORSOrigins)
	}
	out := make([]string, 0, len(in))
	for _, o := range in {
		o = strings.TrimSpace(o)
		if o == "*" {
			out = append(out, o)
			continue
		}
		u, err := url.Parse(o)
		if err != nil || len(o) > 255 || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return nil, apierr.InvalidPayload("cors_origins", "%q is not an origin: write scheme://host[:port], like https://app.example.com, or *", o)
		}
		if origin := u.Scheme + "://" + strings.ToLower(u.Host); !slices.Contains(out, origin) {
			out = append(out, origin)
		}
	}
	return out, nil
}
