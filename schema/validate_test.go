package schema

import "testing"

func TestIsUUID(t *testing.T) {
	for s, want := range map[string]bool{
		"01a21070-b0eb-7745-86b7-dd70a6d7d118": true,
		"01A21070-B0EB-7745-86B7-DD70A6D7D118": true,
		"01a21070-b0eb-7745-86b7-dd70a6d7d11":  false,
		"01a21070-b0eb-7745-86b7-dd70a6d7d11g": false,
		"01a21070b0eb-7745-86b7-dd70a6d7d118-": false,
		"":                                     false,
		"x';DROP TABLE posts;--aaaaaaaaaaaaaa": false,
	} {
		if IsUUID(s) != want {
			t.Errorf("IsUUID(%q) = %v", s, !want)
		}
	}
}
