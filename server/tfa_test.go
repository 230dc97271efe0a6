package main

import (
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// TestTwoFactor: a user turns TOTP two-factor on with a code from the secret; sign-in
// then needs a code, a wrong or replayed one is refused, a recovery code works once,
// wrong codes are throttled like wrong passwords, and a recovery code turns it off.
func TestTwoFactor(t *testing.T) {
	requireBackends(t)
	t.Parallel() // alone on its databases; mostly waiting for them
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			admin := startNode(t, b.newControlURL(t), map[string]string{"STRATA_LOGIN_MAX_FAILURES": "4"})
			admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			admin.mustCall(200, "PATCH", "/api/t/acme/settings", map[string]any{"allow_signup": true})
			p := "/api/t/acme"
			ann := tenantUser(t, admin, "acme", "ann@example.com")
			anon := &node{t: t, base: admin.base}
			login := func(otp string) (int, reply) {
				body := map[string]any{"email": "ann@example.com", "password": "user-pass-123"}
				if otp != "" {
					body["otp"] = otp
				}
				return anon.call("POST", p+"/auth/login", body, nil)
			}
			code := func(secret string, at time.Time) string {
				c, err := totp.GenerateCode(secret, at)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}

			gen := ann.mustCall(200, "POST", p+"/users/me/tfa/generate", nil)
			secret, _ := gen.get("data.secret").(string)
			if secret == "" || !strings.HasPrefix(gen.get("data.otpauth_url").(string), "otpauth://totp/") {
				t.Fatalf("generate: %s", gen)
			}
			if st, r := login(""); st != 200 {
				t.Fatalf("before enable, sign-in needs no code: %d %s", st, r)
			}
			if st, _ := ann.call("POST", p+"/users/me/tfa/enable", map[string]any{"secret": strings.Repeat("A", 80), "otp": "123456"}, nil); st != 400 {
				t.Errorf("enable with a secret too long to be one: %d", st)
			}
			if st, r := ann.call("POST", p+"/users/me/tfa/enable", map[string]any{"secret": secret, "otp": "123456"}, nil); st != 401 || r.get("errors.0.extensions.code") != "INVALID_OTP" {
				t.Fatalf("enable with a wrong code: %d %s", st, r)
			}
			now := time.Now()
			on := ann.mustCall(200, "POST", p+"/users/me/tfa/enable", map[string]any{"secret": secret, "otp": code(secret, now)})
			recovery, _ := on.get("data.recovery_codes").([]any)
			if len(recovery) != 10 {
				t.Fatalf("recovery codes: %s", on)
			}
			if st, _ := ann.call("POST", p+"/users/me/tfa/enable", map[string]any{"secret": secret, "otp": code(secret, now)}, nil); st != 409 {
				t.Errorf("enable twice: %d", st)
			}
			// The secret never comes back.
			if me := ann.mustCall(200, "GET", p+"/users/me", nil); strings.Contains(me.String(), secret) {
				t.Fatalf("/users/me shows the secret: %s", me)
			}

			for _, c := range []struct{ name, otp string }{{"no code", ""}, {"a wrong code", "000001"}, {"the code enable used", code(secret, now)}} {
				if st, r := login(c.otp); st != 401 || r.get("errors.0.extensions.code") != "INVALID_OTP" {
					t.Errorf("sign-in with %s: %d %s", c.name, st, r)
				}
			}
			next := code(secret, now.Add(30*time.Second)) // the next step, within the skew
			if st, r := login(next); st != 200 {
				t.Fatalf("sign-in with a fresh code: %d %s", st, r)
			}
			if st, r := login(next); st != 401 || !strings.Contains(r.String(), "already used") {
				t.Errorf("the same code again: %d %s", st, r)
			}
			rc := recovery[0].(string)
			if st, r := login(rc); st != 200 {
				t.Fatalf("sign-in with a recovery code: %d %s", st, r)
			}
			if st, _ := login(rc); st != 401 {
				t.Errorf("a recovery code twice: %d", st)
			}
			// Off with a recovery code; sign-in needs no code again.
			if st, _ := ann.call("POST", p+"/users/me/tfa/disable", map[string]any{"otp": "000002"}, nil); st != 401 {
				t.Errorf("disable with a wrong code: %d", st)
			}
			ann.mustCall(204, "POST", p+"/users/me/tfa/disable", map[string]any{"otp": recovery[2].(string)})
			if st, r := login(""); st != 200 {
				t.Errorf("sign-in after disable: %d %s", st, r)
			}
			if st, _ := ann.call("POST", p+"/users/me/tfa/disable", map[string]any{"otp": recovery[3].(string)}, nil); st != 409 {
				t.Errorf("disable while off: %d", st)
			}

			// On again: wrong codes count as failed sign-ins (four here), then 429 even
			// with a good code.
			secret = ann.mustCall(200, "POST", p+"/users/me/tfa/generate", nil).get("data.secret").(string)
			ann.mustCall(200, "POST", p+"/users/me/tfa/enable", map[string]any{"secret": secret, "otp": code(secret, time.Now())})
			for range 4 {
				login("999999")
			}
			if st, _ := login(code(secret, time.Now().Add(30*time.Second))); st != 429 {
				t.Errorf("after four wrong codes: %d, want 429", st)
			}
		})
	}
}

// TestPlatformTwoFactor: a platform admin turns two-factor on; platform sign-in then
// needs a code, each good once; platform keys have no two-factor; an operator who lost
// the authenticator turns it off with the CLI.
func TestPlatformTwoFactor(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			control := b.newControlURL(t)
			dir := t.TempDir()
			admin := startNode(t, control, map[string]string{"STRATA_DATA_DIR": dir})
			anon := &node{t: t, base: admin.base}
			login := func(otp string) (int, reply) {
				body := map[string]any{"email": "admin@example.com", "password": testPassword}
				if otp != "" {
					body["otp"] = otp
				}
				return anon.call("POST", "/api/auth/login", body, nil)
			}
			secret := admin.mustCall(200, "POST", "/api/users/me/tfa/generate", nil).get("data.secret").(string)
			if st, r := admin.call("POST", "/api/users/me/tfa/enable", map[string]any{"secret": secret, "otp": "000000"}, nil); st != 401 {
				t.Fatalf("enable with a wrong code: %d %s", st, r)
			}
			now := time.Now()
			code, _ := totp.GenerateCode(secret, now)
			on := admin.mustCall(200, "POST", "/api/users/me/tfa/enable", map[string]any{"secret": secret, "otp": code})
			if codes, _ := on.get("data.recovery_codes").([]any); len(codes) != 10 {
				t.Fatalf("recovery codes: %s", on)
			}
			if st, r := login(""); st != 401 || r.get("errors.0.extensions.code") != "INVALID_OTP" {
				t.Fatalf("sign-in without a code: %d %s", st, r)
			}
			next, _ := totp.GenerateCode(secret, now.Add(30*time.Second))
			if st, r := login(next); st != 200 {
				t.Fatalf("sign-in with a code: %d %s", st, r)
			}
			if st, _ := login(next); st != 401 {
				t.Errorf("a code used twice: %d", st)
			}
			key := admin.mustCall(201, "POST", "/api/api-keys", map[string]any{"name": "ci"}).get("data.token").(string)
			byKey := &node{t: t, base: admin.base, token: key}
			if st, _ := byKey.call("POST", "/api/users/me/tfa/generate", nil, nil); st != 403 {
				t.Errorf("a platform key asks for a two-factor secret: %d", st)
			}
			if st, _ := anon.call("POST", "/api/users/me/tfa/generate", nil, nil); st != 401 {
				t.Errorf("anonymous: %d", st)
			}
			env := map[string]string{"STRATA_DATA_DIR": dir, "STRATA_DATABASE_URL": control, "STRATA_JWT_SECRET": "test-secret-test-secret-test-secret!!"}
			if code, out, errOut := runCommand(env, "admin", "reset-password", "admin@example.com", "--password", testPassword, "--tfa-off", "--json"); code != exitOK || !strings.Contains(out, `"tfa_off":true`) {
				t.Fatalf("reset-password --tfa-off: exit %d %s %s", code, out, errOut)
			}
			if st, r := login(""); st != 200 {
				t.Errorf("sign-in after the operator turned two-factor off: %d %s", st, r)
			}
		})
	}
}
