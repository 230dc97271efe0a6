package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"strata/internal/testkit"
)

// mailNode starts a node whose platform mail server is a catcher on loopback, with its
// mail loop running.
func mailNode(t *testing.T, controlURL string, env map[string]string) (*node, *testkit.MailCatcher) {
	t.Helper()
	catcher := testkit.StartMailCatcher(t)
	vars := map[string]string{"STRATA_SMTP_HOST": "127.0.0.1", "STRATA_SMTP_PORT": strconv.Itoa(catcher.Port), "STRATA_SMTP_SECURITY": "none",
		"STRATA_SMTP_FROM": "Strata <strata@example.com>", "STRATA_PUBLIC_URL": "http://strata.test"}
	for k, v := range env {
		vars[k] = v
	}
	n := startNode(t, controlURL, vars)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go n.app.RunMail(ctx)
	return n, catcher
}

var tokenInLink = regexp.MustCompile(`(https?://\S+?[?&]token=([A-Za-z0-9_-]+))`)

// mailedLink returns the link a caught mail carries and its token.
func mailedLink(t *testing.T, m testkit.CaughtMail) (link, token string) {
	t.Helper()
	found := tokenInLink.FindStringSubmatch(m.Part("text/plain"))
	if found == nil {
		t.Fatalf("no link with a token in the mail:\n%s", m.Raw)
	}
	if !strings.Contains(m.Part("text/html"), found[2]) {
		t.Errorf("the HTML part lacks the link")
	}
	return found[1], found[2]
}

// TestPasswordReset: a reset mail goes only to an account that exists, with the same
// answer either way; its token works once, not after it expired or was superseded, and
// the reset ends the account's sessions; requests and wrong tokens are throttled.
func TestPasswordReset(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			admin, catcher := mailNode(t, b.newControlURL(t), map[string]string{"STRATA_LOGIN_MAX_FAILURES": "4"})
			admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			admin.mustCall(200, "PATCH", "/api/t/acme/settings", map[string]any{"allow_signup": true, "project_name": "Acme"})
			p := "/api/t/acme"
			ann := tenantUser(t, admin, "acme", "ann@example.com")
			anon := &node{t: t, base: admin.base}
			request := func(email string, extra map[string]any) (int, reply) {
				body := map[string]any{"email": email}
				for k, v := range extra {
					body[k] = v
				}
				return anon.call("POST", p+"/auth/password/request", body, nil)
			}
			reset := func(token, password string) (int, reply) {
				return anon.call("POST", p+"/auth/password/reset", map[string]any{"token": token, "password": password}, nil)
			}
			login := func(password string) int {
				st, _ := anon.call("POST", p+"/auth/login", map[string]any{"email": "ann@example.com", "password": password}, nil)
				return st
			}

			if st, r := request("nobody@example.com", nil); st != 204 {
				t.Fatalf("request for an unknown account: %d %s", st, r)
			}
			if st, r := request("ann@example.com", nil); st != 204 {
				t.Fatalf("request: %d %s", st, r)
			}
			m := catcher.Wait(t, "ann@example.com", 1, 10*time.Second)
			if got := m.Header("Subject"); got != "Reset your password for Acme" {
				t.Errorf("subject %q", got)
			}
			if !strings.Contains(m.Header("From"), "strata@example.com") {
				t.Errorf("from %q", m.Header("From"))
			}
			link, token := mailedLink(t, m)
			if !strings.HasPrefix(link, "http://strata.test/#/t/acme/reset-password?token=") {
				t.Errorf("link %s", link)
			}
			if len(catcher.To("nobody@example.com")) != 0 {
				t.Error("a mail went to an address with no account")
			}

			if st, r := reset("not-a-token", "new-pass-456"); st != 401 || r.get("errors.0.extensions.code") != "INVALID_TOKEN" {
				t.Errorf("a wrong token: %d %s", st, r)
			}
			if st, _ := reset(token, "short"); st != 400 {
				t.Errorf("a password too short: %d", st)
			}
			if st, r := reset(token, "new-pass-456"); st != 204 {
				t.Fatalf("reset: %d %s (the refused short password must not have spent the token)", st, r)
			}
			if st, _ := ann.call("GET", p+"/users/me", nil, nil); st != 401 {
				t.Errorf("the session from before the reset still works: %d", st)
			}
			if login("user-pass-123") != 401 || login("new-pass-456") != 200 {
				t.Error("the password did not change")
			}
			if st, r := reset(token, "other-pass-789"); st != 401 {
				t.Errorf("a token used twice: %d %s", st, r)
			}

			// Only the latest link works, and none after it expired.
			request("ann@example.com", nil)
			_, first := mailedLink(t, catcher.Wait(t, "ann@example.com", 2, 10*time.Second))
			request("ann@example.com", nil)
			_, second := mailedLink(t, catcher.Wait(t, "ann@example.com", 3, 10*time.Second))
			if st, _ := reset(first, "other-pass-789"); st != 401 {
				t.Errorf("a superseded token: %d", st)
			}
			db := admin.tenantDB("acme")
			d := db.Dialect
			if _, err := db.Exec(d.Rebind("UPDATE "+d.Quote("strata_user_tokens")+" SET "+d.Quote("expires_at")+" = ?"), d.TimeValue(time.Now().Add(-time.Minute))); err != nil {
				t.Fatal(err)
			}
			if st, _ := reset(second, "other-pass-789"); st != 401 {
				t.Errorf("an expired token: %d", st)
			}

			// The link may lead to the tenant's own app, only on an allowed origin.
			if st, r := request("ann@example.com", map[string]any{"reset_url": "https://evil.example.net/reset"}); st != 400 || r.get("errors.0.extensions.field") != "reset_url" {
				t.Errorf("a reset_url on an origin not allowed: %d %s", st, r)
			}
			admin.mustCall(200, "PATCH", p+"/settings", map[string]any{"auth_redirect_origins": []string{"https://app.acme.test"}})
			if st, r := request("ann@example.com", map[string]any{"reset_url": "https://app.acme.test/reset?lang=en"}); st != 204 {
				t.Fatalf("an allowed reset_url: %d %s", st, r)
			}
			if link, _ := mailedLink(t, catcher.Wait(t, "ann@example.com", 4, 10*time.Second)); !strings.HasPrefix(link, "https://app.acme.test/reset?lang=en&token=") {
				t.Errorf("link %s", link)
			}

			// Requests are rationed per account: the limit is 4 here.
			if st, _ := request("ann@example.com", nil); st != 429 {
				t.Errorf("a fifth request within the window: %d", st)
			}
			// Wrong tokens are throttled per address like wrong passwords.
			for range 4 {
				reset("guess-"+strconv.Itoa(int(time.Now().UnixNano())), "other-pass-789")
			}
			if st, _ := reset("guess", "other-pass-789"); st != 429 {
				t.Errorf("guessing tokens is not throttled: %d", st)
			}
		})
	}
}

// TestInviteAccept: an admin invites a user with a role; the invited user cannot sign
// in until they accept with the mailed token and a password, once.
func TestInviteAccept(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			admin, catcher := mailNode(t, b.newControlURL(t), nil)
			admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			editor := admin.mustCall(200, "POST", p+"/roles", map[string]any{"name": "editor"}).get("data.id").(string)
			anon := &node{t: t, base: admin.base}

			if st, r := admin.call("POST", p+"/users/invite", map[string]any{"email": "bob@example.com", "role": "no-such-role"}, nil); st != 400 {
				t.Errorf("invite with a role that does not exist: %d %s", st, r)
			}
			if st, r := admin.call("POST", p+"/users/invite", map[string]any{"email": "bob@example.com", "role": editor, "invite_url": "https://evil.example.net/"}, nil); st != 400 {
				t.Errorf("invite_url on an origin not allowed: %d %s", st, r)
			}
			admin.mustCall(204, "POST", p+"/users/invite", map[string]any{"email": "Bob@Example.com", "role": editor})
			link, token := mailedLink(t, catcher.Wait(t, "bob@example.com", 1, 10*time.Second))
			if !strings.HasPrefix(link, "http://strata.test/#/t/acme/accept-invite?token=") {
				t.Errorf("link %s", link)
			}
			users := admin.mustCall(200, "GET", p+"/users", nil)
			if !strings.Contains(users.String(), `"invited"`) {
				t.Errorf("the invited user is not listed as invited: %s", users)
			}
			if st, _ := anon.call("POST", p+"/auth/login", map[string]any{"email": "bob@example.com", "password": "bob-pass-123"}, nil); st != 401 {
				t.Errorf("an invited user signs in before accepting: %d", st)
			}
			if st, r := anon.call("POST", p+"/users/invite/accept", map[string]any{"token": token + "x", "password": "bob-pass-123"}, nil); st != 401 {
				t.Errorf("accept with a wrong token: %d %s", st, r)
			}
			anon.mustCall(204, "POST", p+"/users/invite/accept", map[string]any{"token": token, "password": "bob-pass-123"})
			if st, _ := anon.call("POST", p+"/users/invite/accept", map[string]any{"token": token, "password": "bob-pass-456"}, nil); st != 401 {
				t.Errorf("an invitation accepted twice: %d", st)
			}
			r := anon.mustCall(200, "POST", p+"/auth/login", map[string]any{"email": "bob@example.com", "password": "bob-pass-123"})
			bob := &node{t: t, base: admin.base, token: r.get("data.access_token").(string)}
			me := bob.mustCall(200, "GET", p+"/users/me", nil)
			if me.get("data.role_id") != editor || me.get("data.status") != "active" {
				t.Errorf("the accepted user: %s", me)
			}
			if st, r := admin.call("POST", p+"/users/invite", map[string]any{"email": "bob@example.com", "role": editor}, nil); st != 400 || r.get("errors.0.extensions.code") != "RECORD_NOT_UNIQUE" {
				t.Errorf("inviting someone who has an account: %d %s", st, r)
			}
			if st, _ := bob.call("POST", p+"/users/invite", map[string]any{"email": "eve@example.com", "role": editor}, nil); st != 403 {
				t.Errorf("a user who is not an admin invites: %d", st)
			}
		})
	}
}

// TestEmailVerification: where the tenant requires it, a signed-up user signs in only
// after following the mailed link.
func TestEmailVerification(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			admin, catcher := mailNode(t, b.newControlURL(t), nil)
			admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			admin.mustCall(200, "PATCH", p+"/settings", map[string]any{"allow_signup": true, "require_email_verification": true})
			anon := &node{t: t, base: admin.base}
			anon.mustCall(204, "POST", p+"/users/register", map[string]any{"email": "cat@example.com", "password": "cat-pass-123"})
			if st, _ := anon.call("POST", p+"/auth/login", map[string]any{"email": "cat@example.com", "password": "cat-pass-123"}, nil); st != 401 {
				t.Errorf("an unverified user signs in: %d", st)
			}
			m := catcher.Wait(t, "cat@example.com", 1, 10*time.Second)
			link, token := mailedLink(t, m)
			if !strings.HasPrefix(link, "http://strata.test/#/t/acme/verify-email?token=") || !strings.Contains(m.Header("Subject"), "Verify") {
				t.Errorf("link %s, subject %q", link, m.Header("Subject"))
			}
			// Signing up again with the taken email answers the same and mails nothing.
			anon.mustCall(204, "POST", p+"/users/register", map[string]any{"email": "cat@example.com", "password": "cat-pass-456"})
			if st, _ := anon.call("POST", p+"/users/register/verify-email?token=wrong", nil, nil); st != 401 {
				t.Errorf("a wrong token: %d", st)
			}
			anon.mustCall(204, "POST", p+"/users/register/verify-email?token="+token, nil)
			if st, _ := anon.call("POST", p+"/users/register/verify-email?token="+token, nil, nil); st != 401 {
				t.Errorf("a token used twice: %d", st)
			}
			anon.mustCall(200, "POST", p+"/auth/login", map[string]any{"email": "cat@example.com", "password": "cat-pass-123"})
			time.Sleep(200 * time.Millisecond)
			if n := len(catcher.To("cat@example.com")); n != 1 {
				t.Errorf("%d mails to the address, want 1", n)
			}
		})
	}
}

// TestMailQueue: a delivery the server refuses is kept and tried again, by another node
// after a restart too; admins see each message's fate but never its body; a tenant's
// own server on a private address is refused unless the node allows it; the password is
// write-only and sealed in the database; a tenant's template words the mail.
func TestMailQueue(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			control := b.newControlURL(t)
			catcher := testkit.StartMailCatcher(t)
			// The nodes share the data directory, where SQLite tenants' files are.
			dir := t.TempDir()
			env := map[string]string{"STRATA_SMTP_HOST": "127.0.0.1", "STRATA_SMTP_PORT": strconv.Itoa(catcher.Port), "STRATA_SMTP_SECURITY": "none",
				"STRATA_SMTP_FROM": "strata@example.com", "STRATA_DATA_DIR": dir}
			first := startNode(t, control, env)
			first.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			editor := first.mustCall(200, "POST", p+"/roles", map[string]any{"name": "editor"}).get("data.id").(string)
			catcher.FailNext(1)
			first.mustCall(204, "POST", p+"/users/invite", map[string]any{"email": "dan@example.com", "role": editor})
			ctx, stop := context.WithCancel(context.Background())
			go first.app.RunMail(ctx)
			var log reply
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				log = first.mustCall(200, "GET", p+"/settings/mail", nil)
				if log.get("data.0.attempts") == float64(1) || time.Now().After(deadline) {
					break
				}
			}
			stop()
			if log.get("data.0.status") != "queued" || !strings.Contains(log.String(), "try again later") || log.get("data.0.recipient") != "dan@example.com" {
				t.Fatalf("after a refused delivery: %s", log)
			}
			if strings.Contains(log.String(), "token") || log.get("data.0.html") != nil {
				t.Errorf("the mail log shows a body: %s", log)
			}
			// A node started later (the first one gone) delivers it when it is due.
			_ = first.app.Fiber.Shutdown()
			second := startNode(t, control, env)
			if _, err := second.app.Control.Exec(second.app.Control.Dialect.Rebind("UPDATE strata_mail_queue SET next_attempt_at = ?"), second.app.Control.Dialect.TimeValue(time.Now().UTC().Add(-time.Second))); err != nil {
				t.Fatal(err)
			}
			ctx2, stop2 := context.WithCancel(context.Background())
			defer stop2()
			go second.app.RunMail(ctx2)
			_, token := mailedLink(t, catcher.Wait(t, "dan@example.com", 1, 10*time.Second))
			second.mustCall(204, "POST", p+"/users/invite/accept", map[string]any{"token": token, "password": "dan-pass-123"})
			log = second.mustCall(200, "GET", p+"/settings/mail", nil)
			if log.get("data.0.status") != "sent" || log.get("data.0.attempts") != float64(2) {
				t.Errorf("after the retry: %s", log)
			}

			// The tenant's own server: its password never comes back, and is sealed.
			set := second.mustCall(200, "PATCH", p+"/settings", map[string]any{"smtp": map[string]any{"host": "127.0.0.1", "port": catcher.Port,
				"security": "none", "from": "Acme <hello@acme.test>", "username": "", "password": "smtp-secret-pw"}})
			if set.get("data.smtp.password_set") != true || strings.Contains(set.String(), "smtp-secret-pw") {
				t.Errorf("settings answer: %s", set)
			}
			if strings.Contains(second.mustCall(200, "GET", p+"/settings", nil).String(), "smtp-secret-pw") {
				t.Error("GET /settings shows the SMTP password")
			}
			db := second.tenantDB("acme")
			var stored string
			if err := db.QueryRow("SELECT " + db.Dialect.Quote("smtp_password") + " FROM " + db.Dialect.Quote("settings")).Scan(&stored); err != nil || stored == "" || strings.Contains(stored, "smtp-secret") {
				t.Errorf("the stored password %q %v", stored, err)
			}
			// Loopback is refused for a tenant's server on this node.
			if st, r := second.call("POST", p+"/settings/mail/test", map[string]any{"to": "ops@acme.test"}, nil); st != 502 || !strings.Contains(r.String(), "inside this network") {
				t.Errorf("a tenant's mail server on loopback: %d %s", st, r)
			}
			for _, bad := range []map[string]any{{"host": "a b"}, {"port": 70000}, {"security": "ssl"}, {"from": "not an address"}} {
				if st, r := second.call("PATCH", p+"/settings", map[string]any{"smtp": bad}, nil); st != 400 {
					t.Errorf("smtp %v: %d %s", bad, st, r)
				}
			}
			if st, r := second.call("PATCH", p+"/settings", map[string]any{"auth_redirect_origins": []string{"*"}}, nil); st != 400 {
				t.Errorf("auth_redirect_origins *: %d %s", st, r)
			}

			third := startNode(t, control, map[string]string{"STRATA_SMTP_PRIVATE": "true", "STRATA_DATA_DIR": dir})
			third.mustCall(204, "POST", p+"/settings/mail/test", map[string]any{"to": "ops@acme.test"})
			m := catcher.Wait(t, "ops@acme.test", 1, 5*time.Second)
			if !strings.Contains(m.Header("From"), "hello@acme.test") {
				t.Errorf("the test mail's sender: %q", m.Header("From"))
			}
			third.mustCall(200, "PATCH", p+"/settings", map[string]any{"project_name": "Acme & Co", "mail_templates": map[string]any{
				"user-invitation": map[string]any{"subject": "Join {{ project_name }}", "html": "<p>Hello {{email}}, <a href=\"{{url}}\">join {{project_name}}</a></p>"}}})
			if st, r := third.call("PATCH", p+"/settings", map[string]any{"mail_templates": map[string]any{"welcome": map[string]any{"subject": "x", "html": "y"}}}, nil); st != 400 {
				t.Errorf("a template of no known name: %d %s", st, r)
			}
			ctx3, stop3 := context.WithCancel(context.Background())
			defer stop3()
			go third.app.RunMail(ctx3)
			third.mustCall(204, "POST", p+"/users/invite", map[string]any{"email": "eve@example.com", "role": editor})
			m = catcher.Wait(t, "eve@example.com", 1, 10*time.Second)
			if m.Header("Subject") != "Join Acme & Co" || !strings.Contains(m.Part("text/html"), "join Acme &amp; Co") {
				t.Errorf("the tenant's template: %q %s", m.Header("Subject"), m.Part("text/html"))
			}
		})
	}
}

// TestAdminTwoFactorPolicy: where the tenant requires two-factor of its admins, an admin
// without it signs in but may only set it up; once it is on, the same token serves.
// Users who are not admins are not held.
func TestAdminTwoFactorPolicy(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			admin := startNode(t, b.newControlURL(t), nil)
			admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			admin.mustCall(200, "POST", p+"/users", map[string]any{"email": "root@acme.test", "password": "root-pass-123", "role": roleID(t, admin, "acme", "admin")})
			admin.mustCall(200, "PATCH", p+"/settings", map[string]any{"allow_signup": true, "require_admin_tfa": true})
			user := tenantUser(t, admin, "acme", "ann@example.com")
			anon := &node{t: t, base: admin.base}
			r := anon.mustCall(200, "POST", p+"/auth/login", map[string]any{"email": "root@acme.test", "password": "root-pass-123"})
			root := &node{t: t, base: admin.base, token: r.get("data.access_token").(string)}

			for _, path := range []string{"/tables", "/settings", "/users", "/migrations"} {
				if st, r := root.call("GET", p+path, nil, nil); st != 403 || r.get("errors.0.extensions.code") != "TFA_REQUIRED" {
					t.Errorf("GET %s before two-factor: %d %s", path, st, r)
				}
			}
			me := root.mustCall(200, "GET", p+"/users/me", nil)
			if me.get("data.tfa_setup_required") != true || me.get("data.tfa_enabled") != false {
				t.Errorf("me: %s", me)
			}
			secret := root.mustCall(200, "POST", p+"/users/me/tfa/generate", nil).get("data.secret").(string)
			root.mustCall(200, "POST", p+"/users/me/tfa/enable", map[string]any{"secret": secret, "otp": totpCode(t, secret)})
			root.mustCall(200, "GET", p+"/tables", nil)
			if me := root.mustCall(200, "GET", p+"/users/me", nil); me.get("data.tfa_setup_required") != false || me.get("data.tfa_enabled") != true {
				t.Errorf("me after enabling: %s", me)
			}
			user.mustCall(200, "GET", p+"/users/me", nil)
			if st, _ := user.call("GET", p+"/tables", nil, nil); st == 403 {
				// A user who is not an admin reads what their role allows; /tables is open.
				t.Errorf("a user who is not an admin is held by the admin policy")
			}
			admin.mustCall(200, "GET", p+"/tables", nil) // platform admins are not tenant admins
		})
	}
}

// totpCode is secret's code now.
func totpCode(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}
