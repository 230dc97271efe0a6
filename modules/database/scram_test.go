package database

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestSCRAMSecret compares scramSecret with secrets PostgreSQL made itself (ALTER ROLE
// … PASSWORD with password_encryption scram-sha-256): the same password, salt and
// iterations must give the same secret, byte for byte.
func TestSCRAMSecret(t *testing.T) {
	for _, c := range []struct{ password, postgres string }{
		{"pencil", "SCRAM-SHA-256$4096:UKVfVLFw9yMvrdvhVFWYXA==$Q7UWT0pRmDD3XkOoxtG4C1/7KE2skIJ7RPcMoUDsXjY=:LFetpmKrvGy8G+kcPkL8Zuk+cAJb8FeesquVocMn/M8="},
	} {
		salt, iterations := secretParams(t, c.postgres)
		got, err := scramSecret(c.password, salt, iterations)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.postgres {
			t.Errorf("scramSecret(%q) = %s, PostgreSQL made %s", c.password, got, c.postgres)
		}
	}
	// A fresh secret has its own salt and the account's iterations.
	a, _ := accountSecret("0123456789abcdef0123456789abcdef")
	b, _ := accountSecret("0123456789abcdef0123456789abcdef")
	if a == b || !strings.HasPrefix(a, "SCRAM-SHA-256$"+strconv.Itoa(accountIterations)+":") {
		t.Fatalf("two account secrets: %s and %s", a, b)
	}
}

// TestSCRAMSecretAgainstPostgres has the PostgreSQL of STRATA_TEST_POSTGRES_URL make a
// secret for a password and checks scramSecret makes the same from its salt, and that
// the server keeps a secret given to it as it is (it would hash a string it did not
// take for a secret as a password).
func TestSCRAMSecretAgainstPostgres(t *testing.T) {
	db := testServer(t, "STRATA_TEST_POSTGRES_URL", 1)
	ctx := context.Background()
	var super bool
	if err := db.QueryRowContext(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil || !super {
		t.Skipf("reading pg_authid needs a superuser (err %v)", err)
	}
	role := "strata_scram_" + rand.Text()[:12]
	if _, err := db.ExecContext(ctx, `CREATE ROLE "`+role+`"`); err != nil {
		t.Fatal(err)
	}
	defer db.ExecContext(context.Background(), `DROP ROLE "`+role+`"`)
	stored := func() string {
		var s string
		if err := db.QueryRowContext(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	password := "0123456789abcdef0123456789abcdef"
	if _, err := db.ExecContext(ctx, "SET password_encryption = 'scram-sha-256'"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `ALTER ROLE "`+role+`" PASSWORD '`+password+`'`); err != nil {
		t.Fatal(err)
	}
	made := stored()
	salt, iterations := secretParams(t, made)
	if got, _ := scramSecret(password, salt, iterations); got != made {
		t.Fatalf("scramSecret = %s, PostgreSQL made %s", got, made)
	}
	secret, err := accountSecret(password)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `ALTER ROLE "`+role+`" PASSWORD '`+secret+`'`); err != nil {
		t.Fatal(err)
	}
	if kept := stored(); kept != secret {
		t.Fatalf("PostgreSQL stored %s for the secret %s: it did not take it for one", kept, secret)
	}
}

// secretParams reads the salt and iterations of a PostgreSQL SCRAM secret.
func secretParams(t *testing.T, secret string) ([]byte, int) {
	t.Helper()
	m := regexp.MustCompile(`^SCRAM-SHA-256\$(\d+):([^$]+)\$`).FindStringSubmatch(secret)
	if m == nil {
		t.Fatalf("not a SCRAM secret: %s", secret)
	}
	iterations, _ := strconv.Atoi(m[1])
	salt, err := base64.StdEncoding.DecodeString(m[2])
	if err != nil {
		t.Fatal(err)
	}
	return salt, iterations
}
