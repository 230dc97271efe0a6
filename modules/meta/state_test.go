package meta

import (
	"context"
	"testing"

	"strata/internal/testkit"
	"strata/modules/database"
	"strata/schema"
)

// TestReadState: the version, the running migrations and the head of the executed
// ones, in one statement on every dialect; and a history restored from a backup and
// grown back to the same version has another stamp.
func TestReadState(t *testing.T) {
	testkit.RequireBackends(t)
	ctx := context.Background()
	for _, b := range testkit.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			db, err := database.Open(ctx, b.NewURL(t), database.Pool{MaxOpen: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			d := db.Dialect
			col := func(ty schema.Type, n int) string { return d.ColumnType(&schema.Column{Type: ty, Length: n}) }
			if _, err := db.ExecContext(ctx, "CREATE TABLE "+d.Quote("custom_migrations")+" ("+d.Quote("id")+" "+col(schema.TypeUUID, 0)+" NOT NULL PRIMARY KEY, "+
				d.Quote("seq")+" "+col(schema.TypeBigint, 0)+" NOT NULL, "+d.Quote("status")+" "+col(schema.TypeString, 16)+" NOT NULL)"); err != nil {
				t.Fatal(err)
			}
			add := func(id string, seq int, status string) {
				t.Helper()
				if _, err := db.ExecContext(ctx, d.Rebind("INSERT INTO "+d.Quote("custom_migrations")+" VALUES (?, ?, ?)"), id, seq, status); err != nil {
					t.Fatal(err)
				}
			}
			empty, err := ReadState(ctx, db, d)
			if err != nil || empty != (State{}) {
				t.Fatalf("empty history: %+v, %v", empty, err)
			}
			// UUIDv7, oldest first.
			add("01a24e00-0000-7000-8000-000000000001", 1, "executed")
			add("01a24e00-0000-7000-8000-000000000002", 2, "running")
			add("01a24e00-0000-7000-8000-000000000003", 3, "executed")
			add("01a24e00-0000-7000-8000-000000000004", 4, "failed")
			got, err := ReadState(ctx, db, d)
			want := State{Version: 3 + 2, Running: 1, Head: headDigest("01a24e00-0000-7000-8000-000000000003")}
			if err != nil || got != want {
				t.Fatalf("ReadState = %+v, %v; want %+v", got, err, want)
			}
			if v, err := Version(ctx, db, d); err != nil || v != got.Version {
				t.Fatalf("Version = %d, %v; ReadState says %d", v, err, got.Version)
			}
			// Restored to before seq 3, then another migration took seq 3.
			if _, err := db.ExecContext(ctx, "DELETE FROM "+d.Quote("custom_migrations")+" WHERE "+d.Quote("seq")+" >= 3"); err != nil {
				t.Fatal(err)
			}
			add("01a24e00-0000-7000-8000-000000000005", 3, "executed")
			add("01a24e00-0000-7000-8000-000000000006", 4, "failed")
			again, err := ReadState(ctx, db, d)
			if err != nil || again.Version != got.Version || again.Stamp() == got.Stamp() {
				t.Fatalf("a restored history grown back to version %d: %+v (stamp %q, before %q)", got.Version, again, again.Stamp(), got.Stamp())
			}
		})
	}
}

// TestStateTag: a state survives its login tag, within the 63 bytes PostgreSQL keeps of
// application_name; anything else reads as no tag.
func TestStateTag(t *testing.T) {
	for _, s := range []State{
		{},
		{Version: 5, Running: 1, Head: headDigest("01a24e00-0000-7000-8000-000000000003")},
		{Version: 999_999_999_999, Running: 99, Head: headDigest("ffffffff-ffff-7fff-bfff-ffffffffffff")},
	} {
		tag := s.Tag()
		if got, ok := StateFromTag(tag); !ok || got != s {
			t.Errorf("StateFromTag(%q) = %+v, %v; want %+v", tag, got, ok, s)
		}
		if len(tag) > 63 {
			t.Errorf("tag %q is %d bytes: PostgreSQL cuts application_name at 63", tag, len(tag))
		}
	}
	for _, tag := range []string{
		"", "psql", "strata1", "strata1 5 0", "strata2 5 0 ", "strata1 -5 0 ", "strata1 5 0 01a24e00",
		"strata1 5 0 01a24e00-0000-7000-8000-000000000003", // an id, not its digest
		"strata1 5 0 " + headDigest("x")[:31],              // cut
		"strata1 5 0 " + headDigest("x") + " x",
		"strata1 99999999999999999999 0 ",
		// Longer than 63 bytes: the server keeps a cut tag, which reads as none.
		State{Version: 1<<53 - 1, Running: 9999999, Head: headDigest("x")}.Tag()[:63],
	} {
		if s, ok := StateFromTag(tag); ok {
			t.Errorf("StateFromTag(%q) = %+v: not a tag", tag, s)
		}
	}
}

func FuzzStateFromTag(f *testing.F) {
	f.Add("strata1 5 1 " + headDigest("01a24e00-0000-7000-8000-000000000003"))
	f.Add("strata1 0 0 ")
	f.Fuzz(func(t *testing.T, tag string) {
		s, ok := StateFromTag(tag)
		if !ok {
			return
		}
		if again, ok := StateFromTag(s.Tag()); !ok || again != s {
			t.Fatalf("%q reads as %+v, whose tag %q reads as %+v, %v", tag, s, s.Tag(), again, ok)
		}
	})
}
