package tenant

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"strata/internal/testkit"
	"strata/modules/database"
	"strata/schema"
)

// TestSharedModelEncoding: a model comes back from its stored form exactly as it went
// in, and an entry that is not one is refused rather than served.
func TestSharedModelEncoding(t *testing.T) {
	m := &schema.Model{
		Tables: []schema.Table{{ID: "t1", Name: "posts", Label: "Posts", Columns: []schema.Column{
			{ID: "c1", Name: "title", Type: schema.TypeString, Length: 80, Unique: true},
			{ID: "c2", Name: "state", Type: schema.TypeEnum, Values: []string{"draft", "live"}, Default: json.RawMessage(`"draft"`), Nullable: true},
		}, Indexes: []schema.Index{{Name: "posts_title", Columns: []string{"title"}, Unique: true}}}},
		Relations: []schema.Relation{{ID: "r1", Table: "posts", Name: "author", Type: "m2o", Target: "users", OnDelete: "cascade"}},
		Trash:     []schema.Trashed{{ID: "c9", Kind: "column", Table: "posts", TableID: "t1", Column: "old", TrashName: "_trash_old", ColumnDef: &schema.Column{ID: "c9", Name: "old", Type: schema.TypeText}}},
		Functions: []schema.Function{{ID: "f1", Name: "hello", Kind: "endpoint", Source: "export default () => 'hé'", Enabled: true, Method: "GET", Path: "/hello"}},
	}
	enc, err := encodeModel(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeModel(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Fatalf("decoded model differs:\n got %+v\nwant %+v", back, m)
	}
	// Empty lists stay empty lists (the API tells [] from null), however deep.
	bare := &schema.Model{Tables: []schema.Table{{Name: "empty", Columns: []schema.Column{}, Indexes: []schema.Index{{Name: "i", Columns: []string{}}}}},
		Relations: []schema.Relation{}, Trash: []schema.Trashed{{TableDef: &schema.Table{Columns: []schema.Column{}, Indexes: []schema.Index{}}}}}
	enc, err = encodeModel(bare)
	if err != nil {
		t.Fatal(err)
	}
	if back, err = decodeModel(enc); err != nil {
		t.Fatal(err)
	}
	if a, b := testkit.JSON(t, back), testkit.JSON(t, bare); a != b {
		t.Fatalf("empty lists came back as\n%s\nwant\n%s", a, b)
	}
	for name, bad := range map[string]string{
		"not base64":     "%%%",
		"not compressed": "aGVsbG8gd29ybGQ=",
		"cut short":      enc[:len(enc)/2],
	} {
		if _, err := decodeModel(bad); err == nil {
			t.Errorf("%s: decoded without an error", name)
		}
	}
	// A small entry that expands past the bound is refused before it is expanded.
	huge := &schema.Model{Tables: []schema.Table{{Name: strings.Repeat("x", maxModelBytes)}}}
	enc, err = encodeModel(huge)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeModel(enc); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("an entry expanding past %d bytes: %v", maxModelBytes, err)
	}
}

// TestSharedFormatFollowsModelShape: a field added to the model changes the format, so
// entries stored before it are misses rather than models without the field.
func TestSharedFormatFollowsModelShape(t *testing.T) {
	shape := func(typ reflect.Type) string {
		var b strings.Builder
		writeShape(&b, typ, map[reflect.Type]bool{})
		return b.String()
	}
	// The same names, one field apart, deep down.
	var plain, more string
	{
		type table struct {
			Name string `json:"name"`
		}
		type model struct{ Tables []table }
		plain = shape(reflect.TypeFor[model]())
	}
	{
		type table struct {
			Name string `json:"name"`
			More bool   `json:"more"`
		}
		type model struct{ Tables []table }
		more = shape(reflect.TypeFor[model]())
	}
	if plain == more {
		t.Fatalf("a nested field added left the shape as it was: %s", plain)
	}
	if sharedFormat() != sharedFormat() || len(sharedFormat()) != 16 {
		t.Fatalf("sharedFormat = %q", sharedFormat())
	}
}

// TestSharedWritesAreBounded: a burst of cold tenants writes at most maxSharedWrites
// entries at once; the rest are not queued (each would hold a goroutine and an encoded
// model until the control pool had room) but left to the next node that misses.
func TestSharedWritesAreBounded(t *testing.T) {
	ctx := context.Background()
	control, err := database.Open(ctx, "sqlite://"+t.TempDir()+"/control.db", database.Pool{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer control.Close()
	r := NewRegistry(Config{Control: control, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer r.Close()
	if err := r.AddSharedModels(ctx); err != nil {
		t.Fatal(err)
	}
	// The control pool's one connection is taken: the entries' writes wait for it.
	held, err := control.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := &schema.Model{Tables: []schema.Table{}, Relations: []schema.Relation{}}
	for i := range 3 * maxSharedWrites {
		r.storeShared(&Tenant{ID: fmt.Sprintf("t%d", i), Slug: fmt.Sprintf("t%d", i)}, "s", m)
	}
	if n := len(r.sharedWrites); n != maxSharedWrites {
		t.Fatalf("%d writes in flight, want %d", n, maxSharedWrites)
	}
	held.Close()
	r.background.Wait()
	var stored int
	if err := control.QueryRowContext(ctx, "SELECT COUNT(*) FROM strata_tenant_models").Scan(&stored); err != nil || stored != maxSharedWrites {
		t.Fatalf("%d entries stored (%v), want the %d that were let through", stored, err, maxSharedWrites)
	}
}
