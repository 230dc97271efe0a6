package main

import (
	"testing"
)

// TestSessions: a user sees their own sessions, the current one marked, and ends one
// (its access and refresh tokens stop at once); nobody ends another user's session but
// an admin, who sees and ends them too.
func TestSessions(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			admin := startNode(t, b.newControlURL(t), nil)
			admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			admin.mustCall(200, "PATCH", "/api/t/acme/settings", map[string]any{"allow_signup": true})
			p := "/api/t/acme"
			anon := &node{t: t, base: admin.base}
			anon.mustCall(204, "POST", p+"/users/register", map[string]any{"email": "ann@example.com", "password": "user-pass-123"})
			signIn := func() (*node, string) {
				r := anon.mustCall(200, "POST", p+"/auth/login", map[string]any{"email": "ann@example.com", "password": "user-pass-123"})
				return &node{t: t, base: admin.base, token: r.get("data.access_token").(string)}, r.get("data.refresh_token").(string)
			}
			laptop, _ := signIn()
			phone, phoneRefresh := signIn()
			bob := tenantUser(t, admin, "acme", "bob@example.com")

			list := laptop.mustCall(200, "GET", p+"/users/me/sessions", nil).get("data").([]any)
			if len(list) != 2 {
				t.Fatalf("sessions: %v", list)
			}
			var laptopID, phoneID string
			for _, s := range list {
				s := s.(map[string]any)
				if s["current"] == true {
					laptopID = s["id"].(string)
				} else {
					phoneID = s["id"].(string)
				}
				if s["expires_at"] == nil || s["created_at"] == nil {
					t.Errorf("a session without its times: %v", s)
				}
			}
			if laptopID == "" || phoneID == "" {
				t.Fatalf("the current session is not marked: %v", list)
			}
			// Bob cannot end Ann's session, nor see it.
			if st, _ := bob.call("DELETE", p+"/users/me/sessions/"+phoneID, nil, nil); st != 404 {
				t.Errorf("another user's session ended by bob: %d", st)
			}
			if got := bob.mustCall(200, "GET", p+"/users/me/sessions", nil).get("data").([]any); len(got) != 1 {
				t.Errorf("bob's sessions: %v", got)
			}
			// Ann ends the phone's session from the laptop: the phone is signed out now.
			laptop.mustCall(204, "DELETE", p+"/users/me/sessions/"+phoneID, nil)
			if st, _ := phone.call("GET", p+"/users/me", nil, nil); st != 401 {
				t.Errorf("the ended session's access token: %d", st)
			}
			if st, _ := anon.call("POST", p+"/auth/refresh", map[string]any{"refresh_token": phoneRefresh}, nil); st != 401 {
				t.Errorf("the ended session's refresh token: %d", st)
			}
			if st, _ := laptop.call("DELETE", p+"/users/me/sessions/"+phoneID, nil, nil); st != 404 {
				t.Errorf("ending it again: %d", st)
			}
			laptop.mustCall(200, "GET", p+"/users/me", nil)

			// An admin sees Ann's sessions and ends the last one.
			annID := laptop.mustCall(200, "GET", p+"/users/me", nil).get("data.id").(string)
			if got := admin.mustCall(200, "GET", p+"/users/"+annID+"/sessions", nil).get("data").([]any); len(got) != 1 || got[0].(map[string]any)["id"] != laptopID {
				t.Fatalf("Ann's sessions as the admin sees them: %v", got)
			}
			admin.mustCall(204, "DELETE", p+"/users/"+annID+"/sessions/"+laptopID, nil)
			if st, _ := laptop.call("GET", p+"/users/me", nil, nil); st != 401 {
				t.Errorf("after the admin ended it: %d", st)
			}
			if st, _ := admin.call("DELETE", p+"/users/"+annID+"/sessions/not-a-session", nil, nil); st != 404 {
				t.Errorf("a session id that is no id: %d", st)
			}
		})
	}
}
