package database

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// TestPingBeforeReuse: a connection idle for over a second is pinged before its next
// use, as pgx does by default; one never used since it was made (Open's ping just
// reached it) is not.
func TestPingBeforeReuse(t *testing.T) {
	for _, c := range []struct {
		name string
		idle time.Duration
		want bool
	}{
		{"never reset", time.Since(time.Time{}), false},
		{"just used", 10 * time.Millisecond, false},
		{"idle a second", time.Second, false},
		{"idle longer", 1500 * time.Millisecond, true},
		{"idle an hour", time.Hour, true},
	} {
		if got := pingBeforeReuse(context.Background(), stdlib.ShouldPingParams{IdleDuration: c.idle}); got != c.want {
			t.Errorf("%s (%v): ping %v, want %v", c.name, c.idle, got, c.want)
		}
	}
}
