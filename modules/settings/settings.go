// Package settings is the one reader and writer of a tenant's settings row: sign-up,
// email verification, two-factor policy, mail, the approval policy, Enfyra's legacy confirm phrase, CORS origins, GraphQL
// introspection. Reads are cached per tenant
// for a TTL and dropped at once where Invalidate is called (on the node that wrote,
// and on the others when the bus brings word), so every surface and the migration
// service see the same policy.
package settings

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"strata/modules/apierr"
	"strata/modules/cache"
	"strata/modules/database"
	"strata/schema"
)

// Settings is one tenant's settings.
type Settings struct {
	ProjectName string `json:"project_name"`
	AllowSignup bool   `json:"allow_signup"`
	// RequireApproval is "none", "destructive" or "all": which schema changes are held
	// as pending migrations until an admin approves them.
	RequireApproval string `json:"require_approval"`
	// LegacySchemaConfirm honours Enfyra's legacy confirm phrase (?schemaConfirm=) in
	// place of the confirm hash and token. Off by default: the phrase is a weaker
	// confirmation, kept only for Enfyra clients of its transition period.
	LegacySchemaConfirm bool     `json:"legacy_schema_confirm"`
	CORSOrigins         []string `json:"cors_origins"`
	// GraphQLIntrospection allows __schema, __type and /graphql/sdl.
	GraphQLIntrospection bool `json:"graphql_introspection"`
	// StorageDefault names the storage location new files go to ("": the node's).
	StorageDefault string `json:"storage_default"`
	// FilesMaxUpload and FilesQuota (bytes; 0: the node's limit) can only lower what
	// the node allows one file and one tenant.
	FilesMaxUpload int64 `json:"files_max_upload"`
	FilesQuota     int64 `json:"files_quota"`
	// FilesAllowedTypes are the MIME types uploads may have ("image/*" matches a
	// family); empty allows every type.
	FilesAllowedTypes []string `json:"files_allowed_types"`
	// FilesImportHosts are the hosts POST /files/import may fetch from ("*.example.com"
	// matches its subdomains); empty: none.
	FilesImportHosts []string `json:"files_import_hosts"`
	// AssetTransform says which image transformations /assets performs: "all", "none"
	// or "presets" (only AssetPresets, by key).
	AssetTransform string        `json:"storage_asset_transform"`
	AssetPresets   []AssetPreset `json:"storage_asset_presets"`
	// FunctionsFetchHosts are the hosts ctx.fetch may reach (as files_import_hosts);
	// empty: none.
	FunctionsFetchHosts []string `json:"functions_fetch_hosts"`
	// FunctionsRunsRetention is how many days function runs are kept.
	FunctionsRunsRetention int `json:"functions_runs_retention"`
	// RequireEmailVerification keeps a signed-up user invited until they follow the
	// link mailed to them.
	RequireEmailVerification bool `json:"require_email_verification"`
	// RequireAdminTFA: an admin without two-factor gets tokens that serve only to set
	// it up.
	RequireAdminTFA bool `json:"require_admin_tfa"`
	// AuthRedirectOrigins are where reset, invite and verification links and provider
	// sign-ins may send a user (with a token).
	AuthRedirectOrigins []string `json:"auth_redirect_origins"`
	SMTP                SMTP     `json:"smtp"`
	// MailTemplates are the tenant's own wordings, by template name; the others are
	// Strata's.
	MailTemplates map[string]MailTemplate `json:"mail_templates"`
	// ActivityRetention is how many days the activity log and revisions are kept (0:
	// for good).
	ActivityRetention int `json:"activity_retention"`
	// WebhookHosts are where webhooks may post: "host", "host:port" or "*.example.com"
	// (its subdomains); empty: nowhere.
	WebhookHosts []string `json:"webhook_hosts"`
}

// AssetPreset is a named image transformation (?key= on /assets), as Directus names
// its fields.
type AssetPreset struct {
	Key                string `json:"key"`
	Fit                string `json:"fit,omitempty"`
	Width              int    `json:"width,omitempty"`
	Height             int    `json:"height,omitempty"`
	Quality            int    `json:"quality,omitempty"`
	Format             string `json:"format,omitempty"`
	WithoutEnlargement bool   `json:"withoutEnlargement,omitempty"`
}

// Bounds of a transformation's parameters.
const (
	MaxAssetSide   = 8000
	MaxAssetPreset = 100
)

// Fits and formats of image transformations.
var (
	AssetFits    = []string{"cover", "contain", "inside", "outside"}
	AssetFormats = []string{"jpg", "jpeg", "png", "webp"}
)

// Check refuses a transformation parameter out of range; field names what to blame.
func (p AssetPreset) Check(field string) error {
	switch {
	case p.Width < 0 || p.Width > MaxAssetSide || p.Height < 0 || p.Height > MaxAssetSide:
		return apierr.InvalidPayload(field, "width and height are 1 to %d pixels", MaxAssetSide)
	case p.Quality < 0 || p.Quality > 100:
		return apierr.InvalidPayload(field, "quality is 1 to 100")
	case p.Fit != "" && !slices.Contains(AssetFits, p.Fit):
		return apierr.InvalidPayload(field, "fit is one of %s", strings.Join(AssetFits, ", "))
	case p.Format != "" && !slices.Contains(AssetFormats, p.Format):
		return apierr.InvalidPayload(field, "format is one of jpg, png, webp")
	}
	return nil
}

// Patch is a change to some settings; nil fields stay as they are.
type Patch struct {
	ProjectName              *string                  `json:"project_name,omitempty"`
	AllowSignup              *bool                    `json:"allow_signup,omitempty"`
	RequireApproval          *string                  `json:"require_approval,omitempty"`
	LegacySchemaConfirm      *bool                    `json:"legacy_schema_confirm,omitempty"`
	CORSOrigins              *[]string                `json:"cors_origins,omitempty"`
	GraphQLIntrospection     *bool                    `json:"graphql_introspection,omitempty"`
	StorageDefault           *string                  `json:"storage_default,omitempty"`
	FilesMaxUpload           *int64                   `json:"files_max_upload,omitempty"`
	FilesQuota               *int64                   `json:"files_quota,omitempty"`
	FilesAllowedTypes        *[]string                `json:"files_allowed_types,omitempty"`
	FilesImportHosts         *[]string                `json:"files_import_hosts,omitempty"`
	AssetTransform           *string                  `json:"storage_asset_transform,omitempty"`
	AssetPresets             *[]AssetPreset           `json:"storage_asset_presets,omitempty"`
	FunctionsFetchHosts      *[]string                `json:"functions_fetch_hosts,omitempty"`
	FunctionsRuns            *int                     `json:"functions_runs_retention,omitempty"`
	RequireEmailVerification *bool                    `json:"require_email_verification,omitempty"`
	RequireAdminTFA          *bool                    `json:"require_admin_tfa,omitempty"`
	AuthRedirectOrigins      *[]string                `json:"auth_redirect_origins,omitempty"`
	SMTP                     *SMTPPatch               `json:"smtp,omitempty"`
	MailTemplates            *map[string]MailTemplate `json:"mail_templates,omitempty"`
	ActivityRetention        *int                     `json:"activity_retention,omitempty"`
	WebhookHosts             *[]string                `json:"webhook_hosts,omitempty"`
}

// MaxCORSOrigins bounds a tenant's allowed origins.
const MaxCORSOrigins = 100

// Service reads and writes settings.
type Service struct {
	// TTL is how long a read is trusted without word of a change (default 1s).
	TTL time.Duration
	// Sealer keeps the secrets written into settings.
	Sealer *Sealer
	once   sync.Once
	c      cache.TTL[Settings]
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
	return s.GetIn(ctx, tenantID, db, db.Dialect)
}

// GetIn is Get read through db: inside a transaction that holds a connection (a before
// hook's), asking the pool for another could wait on itself.
func (s *Service) GetIn(ctx context.Context, tenantID string, db schema.Querier, d schema.Dialect) (Settings, error) {
	v, gen, ok := s.cache().Get(tenantID)
	if ok {
		return v, nil
	}
	q := d.Quote
	var name, signup, approval, legacyConfirm, origins, introspection, location, maxUpload, quota, types, transform, presets, hosts, fetchHosts, retention any
	var verify, adminTFA, redirects, smtpHost, smtpPort, smtpUser, smtpPassword, smtpFrom, smtpSecurity, templates, activityDays, webhookHosts any
	err := db.QueryRowContext(ctx, "SELECT "+q("project_name")+", "+q("allow_signup")+", "+q("require_approval")+", "+q("legacy_schema_confirm")+", "+q("cors_origins")+", "+
		q("graphql_introspection")+", "+q("storage_default")+", "+q("files_max_upload")+", "+q("files_quota")+", "+q("files_allowed_types")+", "+
		q("storage_asset_transform")+", "+q("storage_asset_presets")+", "+q("files_import_hosts")+", "+q("functions_fetch_hosts")+", "+q("functions_runs_retention")+", "+
		q("require_email_verification")+", "+q("require_admin_tfa")+", "+q("auth_redirect_origins")+", "+q("smtp_host")+", "+q("smtp_port")+", "+q("smtp_username")+", "+
		q("smtp_password")+", "+q("smtp_from")+", "+q("smtp_security")+", "+q("mail_templates")+", "+q("activity_retention")+", "+q("webhook_hosts")+
		" FROM "+q("settings")).Scan(&name, &signup, &approval, &legacyConfirm, &origins, &introspection, &location, &maxUpload, &quota, &types, &transform, &presets, &hosts, &fetchHosts, &retention,
		&verify, &adminTFA, &redirects, &smtpHost, &smtpPort, &smtpUser, &smtpPassword, &smtpFrom, &smtpSecurity, &templates, &activityDays, &webhookHosts)
	if err != nil {
		return Settings{}, fmt.Errorf("read settings: %w", err)
	}
	st := Settings{ProjectName: database.Text(name), AllowSignup: database.Bool(signup), RequireApproval: database.Text(approval), LegacySchemaConfirm: database.Bool(legacyConfirm),
		GraphQLIntrospection: database.Bool(introspection), CORSOrigins: []string{}, StorageDefault: database.Text(location),
		FilesMaxUpload: database.Int64(maxUpload), FilesQuota: database.Int64(quota), FilesAllowedTypes: []string{}, FilesImportHosts: []string{},
		AssetTransform: database.Text(transform), AssetPresets: []AssetPreset{}, FunctionsFetchHosts: []string{}, FunctionsRunsRetention: int(database.Int64(retention)),
		RequireEmailVerification: database.Bool(verify), RequireAdminTFA: database.Bool(adminTFA), AuthRedirectOrigins: []string{},
		SMTP: SMTP{Host: database.Text(smtpHost), Port: int(database.Int64(smtpPort)), Username: database.Text(smtpUser), From: database.Text(smtpFrom),
			Security: database.Text(smtpSecurity), PasswordSet: database.Text(smtpPassword) != "", sealedPassword: database.Text(smtpPassword)},
		MailTemplates: map[string]MailTemplate{}, ActivityRetention: int(database.Int64(activityDays)), WebhookHosts: []string{}}
	if st.SMTP.Security == "" {
		st.SMTP.Security = "starttls"
	}
	if raw := database.Text(templates); raw != "" {
		if err := json.Unmarshal([]byte(raw), &st.MailTemplates); err != nil {
			return Settings{}, fmt.Errorf("read settings: mail_templates: %w", err)
		}
	}
	if st.AssetTransform == "" {
		st.AssetTransform = "all"
	}
	if raw := database.Text(presets); raw != "" {
		if err := json.Unmarshal([]byte(raw), &st.AssetPresets); err != nil {
			return Settings{}, fmt.Errorf("read settings: storage_asset_presets: %w", err)
		}
	}
	for col, list := range map[string]struct {
		raw any
		out *[]string
	}{"cors_origins": {origins, &st.CORSOrigins}, "files_allowed_types": {types, &st.FilesAllowedTypes}, "files_import_hosts": {hosts, &st.FilesImportHosts},
		"functions_fetch_hosts": {fetchHosts, &st.FunctionsFetchHosts}, "auth_redirect_origins": {redirects, &st.AuthRedirectOrigins},
		"webhook_hosts": {webhookHosts, &st.WebhookHosts}} {
		if raw := database.Text(list.raw); raw != "" {
			if err := json.Unmarshal([]byte(raw), list.out); err != nil {
				return Settings{}, fmt.Errorf("read settings: %s: %w", col, err)
			}
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
	if p.LegacySchemaConfirm != nil {
		cols["legacy_schema_confirm"] = d.BoolValue(*p.LegacySchemaConfirm)
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
	if p.StorageDefault != nil {
		if len(*p.StorageDefault) > 32 {
			return Settings{}, apierr.InvalidPayload("storage_default", "storage_default names a storage location")
		}
		cols["storage_default"] = database.NullText(*p.StorageDefault)
	}
	for name, v := range map[string]*int64{"files_max_upload": p.FilesMaxUpload, "files_quota": p.FilesQuota} {
		if v != nil {
			if *v < 0 {
				return Settings{}, apierr.InvalidPayload(name, "%s is a number of bytes (0: the server's limit)", name)
			}
			cols[name] = *v
		}
	}
	if p.AssetTransform != nil {
		switch *p.AssetTransform {
		case "all", "none", "presets":
			cols["storage_asset_transform"] = *p.AssetTransform
		default:
			return Settings{}, apierr.InvalidPayload("storage_asset_transform", "storage_asset_transform must be all, none or presets")
		}
	}
	if p.AssetPresets != nil {
		if len(*p.AssetPresets) > MaxAssetPreset {
			return Settings{}, apierr.InvalidPayload("storage_asset_presets", "at most %d presets", MaxAssetPreset)
		}
		seen := map[string]bool{}
		for i, pr := range *p.AssetPresets {
			field := fmt.Sprintf("storage_asset_presets[%d]", i)
			if !presetKey.MatchString(pr.Key) || seen[pr.Key] {
				return Settings{}, apierr.InvalidPayload(field, "each preset needs its own key: letters, digits, - and _, at most 64")
			}
			seen[pr.Key] = true
			if err := pr.Check(field); err != nil {
				return Settings{}, err
			}
		}
		b, _ := json.Marshal(*p.AssetPresets)
		cols["storage_asset_presets"] = string(b)
	}
	if p.FilesImportHosts != nil {
		hosts, err := HostList("files_import_hosts", *p.FilesImportHosts)
		if err != nil {
			return Settings{}, err
		}
		b, _ := json.Marshal(hosts)
		cols["files_import_hosts"] = string(b)
	}
	if p.FunctionsFetchHosts != nil {
		hosts, err := HostList("functions_fetch_hosts", *p.FunctionsFetchHosts)
		if err != nil {
			return Settings{}, err
		}
		b, _ := json.Marshal(hosts)
		cols["functions_fetch_hosts"] = string(b)
	}
	if p.WebhookHosts != nil {
		hosts, err := HostPortList("webhook_hosts", *p.WebhookHosts)
		if err != nil {
			return Settings{}, err
		}
		b, _ := json.Marshal(hosts)
		cols["webhook_hosts"] = string(b)
	}
	if p.FunctionsRuns != nil {
		if *p.FunctionsRuns < 1 || *p.FunctionsRuns > 365 {
			return Settings{}, apierr.InvalidPayload("functions_runs_retention", "functions_runs_retention is a number of days, 1 to 365")
		}
		cols["functions_runs_retention"] = *p.FunctionsRuns
	}
	if p.FilesAllowedTypes != nil {
		types, err := TypeList(*p.FilesAllowedTypes)
		if err != nil {
			return Settings{}, err
		}
		b, _ := json.Marshal(types)
		cols["files_allowed_types"] = string(b)
	}
	if p.RequireEmailVerification != nil {
		cols["require_email_verification"] = d.BoolValue(*p.RequireEmailVerification)
	}
	if p.RequireAdminTFA != nil {
		cols["require_admin_tfa"] = d.BoolValue(*p.RequireAdminTFA)
	}
	if p.AuthRedirectOrigins != nil {
		v, err := redirectOrigins(*p.AuthRedirectOrigins)
		if err != nil {
			return Settings{}, err
		}
		cols["auth_redirect_origins"] = v
	}
	if p.SMTP != nil {
		if err := s.smtpColumns(p.SMTP, cols); err != nil {
			return Settings{}, err
		}
	}
	if p.ActivityRetention != nil {
		if *p.ActivityRetention < 0 || *p.ActivityRetention > 3650 {
			return Settings{}, apierr.InvalidPayload("activity_retention", "activity_retention is a number of days, 0 (for good) to 3650")
		}
		cols["activity_retention"] = *p.ActivityRetention
	}
	if p.MailTemplates != nil {
		v, err := templatesColumn(*p.MailTemplates)
		if err != nil {
			return Settings{}, err
		}
		cols["mail_templates"] = v
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
func OriginList(in []string) ([]string, error) { return originList("cors_origins", in) }

func originList(field string, in []string) ([]string, error) {
	if len(in) > MaxCORSOrigins {
		return nil, apierr.InvalidPayload(field, "at most %d origins", MaxCORSOrigins)
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
			return nil, apierr.InvalidPayload(field, "%q is not an origin: write scheme://host[:port], like https://app.example.com, or *", o)
		}
		if origin := u.Scheme + "://" + strings.ToLower(u.Host); !slices.Contains(out, origin) {
			out = append(out, origin)
		}
	}
	return out, nil
}

var presetKey = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// mimePattern is a MIME type ("image/png") or a family ("image/*").
var mimePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/(\*|[a-z0-9][a-z0-9!#$&^_.+-]{0,126})$`)

// TypeList checks the MIME types uploads may have, in lower case.
func TypeList(in []string) ([]string, error) {
	if len(in) > 100 {
		return nil, apierr.InvalidPayload("files_allowed_types", "at most 100 types")
	}
	out := make([]string, 0, len(in))
	for _, t := range in {
		t = strings.ToLower(strings.TrimSpace(t))
		if !mimePattern.MatchString(t) {
			return nil, apierr.InvalidPayload("files_allowed_types", "%q is not a MIME type: write type/subtype, like image/png, or type/*", t)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

var hostPattern = regexp.MustCompile(`^(\*\.)?[a-z0-9]([a-z0-9-]{0,62})?(\.[a-z0-9]([a-z0-9-]{0,62})?)*$`)

// HostList checks a setting's list of hosts (files imported from, fetched by
// functions), in lower case.
func HostList(field string, in []string) ([]string, error) {
	if len(in) > 100 {
		return nil, apierr.InvalidPayload(field, "at most 100 hosts")
	}
	out := make([]string, 0, len(in))
	for _, h := range in {
		h = strings.ToLower(strings.TrimSpace(h))
		if len(h) > 253 || !hostPattern.MatchString(h) {
			return nil, apierr.InvalidPayload(field, "%q is not a host name: write files.example.com, or *.example.com for its subdomains", h)
		}
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out, nil
}

// HostPortList checks a list of "host", "host:port" and "*.example.com" entries (an
// IPv6 address in brackets) and returns it lower-cased, without repeats.
func HostPortList(field string, in []string) ([]string, error) {
	if len(in) > 100 {
		return nil, apierr.InvalidPayload(field, "at most 100 hosts")
	}
	out := make([]string, 0, len(in))
	for _, raw := range in {
		e := strings.ToLower(strings.TrimSpace(raw))
		host, port := splitHostPort(e)
		ok := len(e) <= 260 && host != ""
		if ok && port != "" {
			n, err := strconv.Atoi(port)
			ok = err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == port
		}
		if ok && net.ParseIP(host) == nil {
			ok = len(host) <= 253 && hostPattern.MatchString(host)
		}
		if !ok {
			return nil, apierr.InvalidPayload(field, "%q is not a host: write hooks.example.com, hooks.example.com:8443, *.example.com or an address", raw)
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out, nil
}

// splitHostPort splits "host:port", "[v6]:port", "[v6]" or "host" (port "" when
// none); an IPv6 address without brackets is all host.
func splitHostPort(e string) (host, port string) {
	if strings.HasPrefix(e, "[") {
		end := strings.Index(e, "]")
		if end < 0 {
			return "", ""
		}
		host, rest := e[1:end], e[end+1:]
		if rest == "" {
			return host, ""
		}
		if !strings.HasPrefix(rest, ":") || rest == ":" {
			return "", ""
		}
		return host, rest[1:]
	}
	if strings.Count(e, ":") == 1 {
		i := strings.IndexByte(e, ':')
		if i == len(e)-1 {
			return "", ""
		}
		return e[:i], e[i+1:]
	}
	return e, ""
}

// WebhookTarget reports whether a webhook may post to host on port, and whether an
// entry names that host itself rather than through a wildcard: only such an entry may
// lead to a private address, and only where the node allows private targets.
func (st Settings) WebhookTarget(host, port string) (allowed, named bool) {
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	for _, e := range st.WebhookHosts {
		h, p := splitHostPort(e)
		if p != "" && p != port {
			continue
		}
		switch {
		case h == host:
			return true, true
		case strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]):
			allowed = true
		}
	}
	return allowed, false
}

// AllowsImportFrom reports whether files may be imported from host.
func (st Settings) AllowsImportFrom(host string) bool { return hostIn(st.FilesImportHosts, host) }

// AllowsFetchFrom reports whether a function's ctx.fetch may reach host.
func (st Settings) AllowsFetchFrom(host string) bool { return hostIn(st.FunctionsFetchHosts, host) }

func hostIn(list []string, host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range list {
		if h == host || (strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:])) {
			return true
		}
	}
	return false
}

// AllowsType reports whether a file of MIME type mime may be uploaded.
func (st Settings) AllowsType(mime string) bool {
	if len(st.FilesAllowedTypes) == 0 {
		return true
	}
	mime = strings.ToLower(mime)
	family, _, _ := strings.Cut(mime, "/")
	for _, t := range st.FilesAllowedTypes {
		if t == mime || t == family+"/*" {
			return true
		}
	}
	return false
}
