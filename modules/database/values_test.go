package database

import "testing"

func TestClipKeepsCharacters(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{{"aé", 2, "a"}, {"aéb", 3, "aé"}, {"abc", 5, "abc"}, {"é", 0, ""}} {
		if got := Clip(c.in, c.n); got != c.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
