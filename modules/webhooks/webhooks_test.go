package webhooks

import (
	"testing"

	"strata/modules/outbox"
	"strata/modules/records"
	"strata/schema"
)

func TestSign(t *testing.T) {
	// RFC 4231, test case 2.
	got := Sign("Jefe", []byte("what do ya want for nothing?"))
	if want := "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestMatching(t *testing.T) {
	posts, users, files := &schema.Table{Name: "posts"}, &schema.Table{Name: "strata_users", System: true}, &schema.Table{Name: schema.FilesTable, System: true}
	list := []Webhook{
		{ID: "a", Enabled: true, Tables: []string{"posts"}, Events: []string{"create"}},
		{ID: "b", Enabled: true, Tables: []string{"*"}, Events: []string{"create", "delete"}},
		{ID: "c", Enabled: false, Tables: []string{"*"}, Events: []string{"create"}},
	}
	ids := func(t *schema.Table, action string) (out []string) {
		for _, w := range matching(list, t, action) {
			out = append(out, w.ID)
		}
		return out
	}
	for _, c := range []struct {
		t      *schema.Table
		action string
		want   []string
	}{
		{posts, "create", []string{"a", "b"}},
		{posts, "update", nil},
		{posts, "delete", []string{"b"}},
		{users, "create", nil}, // "*" never reaches Strata's secret-holding tables
		{files, "create", []string{"b"}},
	} {
		got := ids(c.t, c.action)
		if len(got) != len(c.want) || (len(got) > 0 && (got[0] != c.want[0] || got[len(got)-1] != c.want[len(c.want)-1])) {
			t.Errorf("%s %s: %v, want %v", c.t.Name, c.action, got, c.want)
		}
	}
}

// TestWantsReadsNoDatabase: Wants is asked inside writes, where a read from the tenant's
// pool can wait on a connection the waiting writes hold (on SQLite it stalled every
// write for the write gate's 10 s). With nothing cached it must answer without a
// database (the scope has none here: a read would panic) and leave the read to Written.
func TestWantsReadsNoDatabase(t *testing.T) {
	s := &Service{Outbox: &outbox.Deliverer{}}
	m := &schema.Model{Tables: []schema.Table{{Name: "posts"}, {Name: Table, System: true}, {Name: "strata_users", System: true}}}
	sc := &records.Scope{TenantID: "t1", Model: m}
	if _, after := s.Wants(sc, "posts", "create"); !after {
		t.Error("with nothing cached, a watchable table's write must be read for in Written")
	}
	if _, after := s.Wants(sc, "strata_users", "create"); after {
		t.Error("strata_users is never watched")
	}
	s.lists.Put("t1", []Webhook{{ID: "a", Enabled: true, Tables: []string{"posts"}, Events: []string{"delete"}}}, 0)
	if _, after := s.Wants(sc, "posts", "create"); after {
		t.Error("a cached list without a match wants nothing")
	}
	if _, after := s.Wants(sc, "posts", "delete"); !after {
		t.Error("a cached match is wanted")
	}
}
