// Package changeset reads changesets: named, versioned units of schema change that
// live in a repository folder as YAML or JSON files and are rolled out to many tenants
// by the control plane. It knows their format, their checksum, how their operations
// become the schema changes of one tenant, how tags select them and how their
// dependencies order them. It does not run anything.
package changeset

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"strata/modules/apierr"
	"strata/modules/formats"
	"strata/modules/migration"
)

// Limits of one changeset.
const (
	MaxOps       = 200
	MaxTags      = 32
	MaxDependsOn = 64
	MaxBytes     = migration.MaxCustomSQL + 64<<10
)

// Changeset is one unit of change: either Changes (the schema API's changes, as
// operations) or UpSQL/DownSQL (hand-written SQL, run as a custom migration).
type Changeset struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Tags        []string          `json:"tags"`
	DependsOn   []string          `json:"depends_on"`
	Changes     []json.RawMessage `json:"changes,omitempty"`
	UpSQL       string            `json:"up_sql,omitempty"`
	DownSQL     string            `json:"down_sql,omitempty"`
	// Checksum is computed from everything above (Sum); a file may not set it.
	Checksum string `json:"checksum"`
}

var (
	namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	tagKey      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
)

// NameRule says what a changeset's name may be.
const NameRule = "a changeset name is 1 to 128 letters, digits, '_', '.' or '-', starting with a letter or digit"

// ValidName reports whether name follows NameRule.
func ValidName(name string) bool { return namePattern.MatchString(name) }

// Parse reads one changeset file, YAML or JSON (yaml says which), validates it and sets
// its checksum.
func Parse(body []byte, yaml bool) (*Changeset, error) {
	if len(body) > MaxBytes {
		return nil, apierr.InvalidPayload("body", "a changeset is at most %d bytes", MaxBytes)
	}
	if yaml {
		docs, err := formats.YAMLDocuments(body)
		if err != nil {
			return nil, apierr.InvalidPayload("body", "%v", err)
		}
		if len(docs) != 1 {
			return nil, apierr.InvalidPayload("body", "a changeset file holds one YAML document, not %d", len(docs))
		}
		if body, err = json.Marshal(docs[0]); err != nil {
			return nil, apierr.InvalidPayload("body", "%v", err)
		}
	}
	var cs Changeset
	if err := formats.Decode(body, &cs); err != nil {
		return nil, err
	}
	if cs.Checksum != "" {
		return nil, apierr.InvalidPayload("checksum", "the server computes a changeset's checksum: leave it out")
	}
	if err := cs.Validate(); err != nil {
		return nil, err
	}
	cs.Checksum = cs.Sum()
	return &cs, nil
}

// Validate checks the changeset's shape: its name, tags, dependencies, and that it has
// either operations (each one known, with its fields) or up_sql.
func (cs *Changeset) Validate() error {
	if !namePattern.MatchString(cs.Name) {
		return apierr.InvalidPayload("name", "%s", NameRule)
	}
	if len(cs.Description) > 2000 {
		return apierr.InvalidPayload("description", "at most 2000 characters")
	}
	if cs.Tags == nil {
		cs.Tags = []string{}
	}
	if cs.DependsOn == nil {
		cs.DependsOn = []string{}
	}
	if len(cs.Tags) > MaxTags {
		return apierr.InvalidPayload("tags", "at most %d tags", MaxTags)
	}
	for i, t := range cs.Tags {
		if _, _, err := ParseTag(t); err != nil {
			return apierr.InvalidPayload(fmt.Sprintf("tags[%d]", i), "%v", err)
		}
	}
	if len(cs.DependsOn) > MaxDependsOn {
		return apierr.InvalidPayload("depends_on", "at most %d dependencies", MaxDependsOn)
	}
	for i, d := range cs.DependsOn {
		switch {
		case !namePattern.MatchString(d):
			return apierr.InvalidPayload(fmt.Sprintf("depends_on[%d]", i), "%s", NameRule)
		case d == cs.Name:
			return apierr.New(400, "INVALID_DEPENDENCIES", "changeset %s depends on itself", cs.Name).With("cycle", []string{cs.Name, cs.Name})
		}
	}
	hasSQL := strings.TrimSpace(cs.UpSQL) != ""
	switch {
	case hasSQL && len(cs.Changes) > 0:
		return apierr.InvalidPayload("changes", "a changeset has either changes or up_sql, not both")
	case !hasSQL && len(cs.Changes) == 0:
		return apierr.InvalidPayload("changes", "a changeset needs changes or up_sql")
	case !hasSQL && cs.DownSQL != "":
		return apierr.InvalidPayload("down_sql", "down_sql goes with up_sql; the inverse of changes is worked out from them")
	case len(cs.Changes) > MaxOps:
		return apierr.InvalidPayload("changes", "at most %d changes", MaxOps)
	case len(cs.UpSQL) > migration.MaxCustomSQL || len(cs.DownSQL) > migration.MaxCustomSQL:
		return apierr.InvalidPayload("up_sql", "at most %d bytes", migration.MaxCustomSQL)
	}
	for i, raw := range cs.Changes {
		if _, err := decodeOp(raw); err != nil {
			return atOp(i, err)
		}
	}
	return nil
}

// Sum is the changeset's checksum: SHA-256 of its content in a canonical form (the
// JSON of its fields in a fixed order, operations compacted), so the same file in YAML
// or JSON, indented or not, has the same checksum.
func (cs *Changeset) Sum() string {
	ops := make([]json.RawMessage, len(cs.Changes))
	for i, raw := range cs.Changes {
		var v any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if dec.Decode(&v) == nil {
			raw, _ = json.Marshal(v) // maps marshal with sorted keys
		}
		ops[i] = raw
	}
	b, _ := json.Marshal(struct {
		Name        string            `json:"name"`
		Description string            `json:"description"`
		Tags        []string          `json:"tags"`
		DependsOn   []string          `json:"depends_on"`
		Changes     []json.RawMessage `json:"changes"`
		UpSQL       string            `json:"up_sql"`
		DownSQL     string            `json:"down_sql"`
	}{cs.Name, cs.Description, cs.Tags, cs.DependsOn, ops, cs.UpSQL, cs.DownSQL})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// ParseTag splits "key=value".
func ParseTag(tag string) (key, value string, err error) {
	key, value, ok := strings.Cut(tag, "=")
	switch {
	case !ok:
		return "", "", fmt.Errorf("%q is not key=value", tag)
	case !tagKey.MatchString(key):
		return "", "", fmt.Errorf("tag key %q: 1 to 63 letters, digits, '_', '.' or '-'", key)
	case value == "" || len(value) > 255:
		return "", "", fmt.Errorf("tag %q: the value is 1 to 255 characters", tag)
	}
	return key, value, nil
}

// ParseTags reads a list of "key=value" filters (field names the input in errors).
func ParseTags(field string, tags []string) (map[string]string, error) {
	out := map[string]string{}
	for i, t := range tags {
		k, v, err := ParseTag(t)
		if err != nil {
			return nil, apierr.InvalidPayload(fmt.Sprintf("%s[%d]", field, i), "%v", err)
		}
		if prev, dup := out[k]; dup && prev != v {
			return nil, apierr.InvalidPayload(fmt.Sprintf("%s[%d]", field, i), "tag %s is asked for twice with different values: nothing can match both", k)
		}
		out[k] = v
	}
	return out, nil
}

// Matches reports whether have holds every one of want (AND semantics).
func Matches(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// TagMap is the tags of a changeset as a map.
func (cs *Changeset) TagMap() map[string]string {
	m := make(map[string]string, len(cs.Tags))
	for _, t := range cs.Tags {
		if k, v, err := ParseTag(t); err == nil {
			m[k] = v
		}
	}
	return m
}

// Expand orders the changesets to run: the selected ones and, unless noDeps, everything
// they depend on, dependencies first (ties by name, so every node orders alike). A
// missing dependency or a cycle is a 400 INVALID_DEPENDENCIES naming it. With noDeps,
// dependencies between the selected ones still order them.
func Expand(all map[string]*Changeset, selected []string, noDeps bool) ([]*Changeset, error) {
	want := map[string]bool{}
	var missing []string
	var visit func(name, from string)
	visit = func(name, from string) {
		if want[name] {
			return
		}
		cs := all[name]
		if cs == nil {
			if from == "" {
				missing = append(missing, name)
			} else {
				missing = append(missing, name+" (needed by "+from+")")
			}
			return
		}
		want[name] = true
		if noDeps {
			return
		}
		for _, d := range cs.DependsOn {
			visit(d, name)
		}
	}
	for _, name := range selected {
		visit(name, "")
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		missing = slices.Compact(missing)
		return nil, apierr.New(400, "INVALID_DEPENDENCIES", "missing changesets: %s", strings.Join(missing, ", ")).With("missing", missing)
	}
	// Depth-first topological order, visiting names sorted; a node met again while on
	// the path is a cycle.
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	slices.Sort(names)
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var out []*Changeset
	var cycle []string
	var walk func(name string) bool
	walk = func(name string) bool {
		switch state[name] {
		case done:
			return true
		case onPath:
			i := slices.Index(path, name)
			cycle = append(slices.Clone(path[i:]), name)
			return false
		}
		state[name] = onPath
		path = append(path, name)
		deps := slices.Clone(all[name].DependsOn)
		slices.Sort(deps)
		for _, d := range deps {
			if want[d] && !walk(d) {
				return false
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		out = append(out, all[name])
		return true
	}
	for _, n := range names {
		if !walk(n) {
			return nil, apierr.New(400, "INVALID_DEPENDENCIES", "changesets depend on each other in a cycle: %s", strings.Join(cycle, " → ")).With("cycle", cycle)
		}
	}
	return out, nil
}
