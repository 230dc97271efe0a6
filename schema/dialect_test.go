package schema

import "testing"

func TestPlaceholders(t *testing.T) {
	for n, want := range map[int]string{1: "?", 3: "?, ?, ?"} {
		if got := Placeholders(n); got != want {
			t.Errorf("Placeholders(%d) = %q, want %q", n, got, want)
		}
	}
	if got := (Postgres{}).Rebind("IN (" + Placeholders(3) + ")"); got != "IN ($1, $2, $3)" {
		t.Errorf("rebound for PostgreSQL: %q", got)
	}
}
