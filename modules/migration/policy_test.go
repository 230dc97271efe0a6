package migration

import (
	"context"
	"errors"
	"slices"
	"testing"

	"strata/schema"
)

// TestWithPolicy: a change a user asked for follows the tenant's approval policy;
// changes Strata makes itself, replays, system upgrades and dry runs never read it, and
// a policy the request names (a batch holding the rest) wins.
func TestWithPolicy(t *testing.T) {
	reads := 0
	s := NewService(Config{Approval: func(context.Context, Target) (string, error) { reads++; return "all", nil }})
	for _, c := range []struct {
		name  string
		req   Request
		want  string
		reads int
	}{
		{"a user's change", Request{}, "all", 1},
		{"named", Request{Approval: "destructive"}, "destructive", 0},
		{"unattended", Request{Unattended: true}, "", 0},
		{"replayed", Request{Replayed: true}, "", 0},
		{"system", Request{Change: schema.Change{System: true}}, "", 0},
		{"dry run", Request{DryRun: true}, "", 0},
	} {
		reads = 0
		req := c.req
		if err := s.withPolicy(context.Background(), Target{}, &req); err != nil || req.Approval != c.want || reads != c.reads {
			t.Errorf("%s: approval %q, %d reads, %v; want %q, %d", c.name, req.Approval, reads, err, c.want, c.reads)
		}
	}
	failing := NewService(Config{Approval: func(context.Context, Target) (string, error) { return "", errors.New("down") }})
	if err := failing.withPolicy(context.Background(), Target{}, &Request{}); err == nil {
		t.Error("a policy that cannot be read lets the change through")
	}
	none := NewService(Config{})
	req := Request{}
	if err := none.withPolicy(context.Background(), Target{}, &req); err != nil || req.Approval != "" {
		t.Errorf("no policy reader: %q %v", req.Approval, err)
	}
}

// TestNotifiersInOrder: every notifier hears every event, in the order they were added.
func TestNotifiersInOrder(t *testing.T) {
	var heard []string
	hear := func(name string) Notifier {
		return NotifierFuncs{
			OnStatus:  func(StatusChange) { heard = append(heard, name+" status") },
			OnCommit:  func(Commit) { heard = append(heard, name+" commit") },
			OnFailure: func(string, *Migration) { heard = append(heard, name+" failed") },
		}
	}
	s := NewService(Config{})
	s.Notify(hear("a"), NotifierFuncs{}, hear("b"))
	s.statusChanged("t", &Migration{}, true)
	s.notifiers.Committed(Commit{})
	s.notifiers.Failed("t", &Migration{})
	want := []string{"a status", "b status", "a commit", "b commit", "a failed", "b failed"}
	if !slices.Equal(heard, want) {
		t.Errorf("heard %q, want %q", heard, want)
	}
}
