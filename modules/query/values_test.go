package query

import (
	"testing"
	"time"

	"strata/schema"
)

func TestDatetimeText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"2026-12-05T21:28:15.123456Z", "2026-12-05T21:28:15.123456Z"},
		{"2026-12-05T21:28:15.120000Z", "2026-12-05T21:28:15.12Z"},
		{"2026-12-05T21:28:15.000000Z", "2026-12-05T21:28:15Z"},
		{"2026-12-05T21:28:15.000001Z", "2026-12-05T21:28:15.000001Z"},
		{"2026-12-05T23:28:15+02:00", "2026-12-05T21:28:15Z"},
		{"2026-12-05 21:28:15", "2026-12-05T21:28:15Z"},
		{"2026-12-05 21:28:15.5+01:00", "2026-12-05T20:28:15.5Z"},
		{"2026-12-05 21:28", "2026-12-05T21:28:00Z"},
		{"2026-12-05", "2026-12-05T00:00:00Z"},
		{"not a time", "not a time"},
		{"2026-12-05T21:28:15.12345xZ", "2026-12-05T21:28:15.12345xZ"},
	}
	for _, c := range cases {
		if got := datetimeText(c.in); got != c.want {
			t.Errorf("datetimeText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// Strata's own stored text reads back exactly as a parse and format would give it.
	for _, ns := range []int{0, 1000, 120000000, 999999000, 100000000} {
		tm := time.Date(2026, 1, 2, 3, 4, 5, ns, time.UTC)
		stored := tm.Format(schema.TimeLayout)
		if got, want := datetimeText(stored), tm.Format(time.RFC3339Nano); got != want {
			t.Errorf("datetimeText(%q) = %q, want %q", stored, got, want)
		}
	}
}

func BenchmarkDecodeDatetime(b *testing.B) {
	c := &schema.Column{Name: "created_at", Type: schema.TypeDatetime}
	for b.Loop() {
		_ = Decode(c, "2026-12-05T21:28:15.123456Z")
	}
}
