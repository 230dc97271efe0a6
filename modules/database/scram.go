package database

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// accountIterations is the SCRAM iteration count of a tenant account's stored secret.
// Iterations make guessing a weak password from a stolen secret slow; an account's
// password is 128 bits derived from the node's secret, which no guess reaches. The
// client repeats them at every login, and PostgreSQL's default of 4,096 costs the node
// about 1.6 ms of CPU on each tenant's cold first request (decision 0033).
const accountIterations = 16

// scramSecret is the SCRAM-SHA-256 secret PostgreSQL stores for password with salt and
// iterations (RFC 7677; PostgreSQL's own format, which ALTER ROLE … PASSWORD takes as
// it is). Giving the secret instead of the password also keeps the password out of
// any statement log.
func scramSecret(password string, salt []byte, iterations int) (string, error) {
	// SASLprep leaves the password as it is: account passwords are hex (password).
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("scram secret: %w", err)
	}
	mac := func(msg string) []byte {
		h := hmac.New(sha256.New, salted)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac("Client Key"))
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(stored[:]), b64(mac("Server Key"))), nil
}

// accountSecret is a new SCRAM secret for a tenant account's password, with a fresh
// salt.
func accountSecret(password string) (string, error) {
	salt := make([]byte, 16)
	rand.Read(salt)
	return scramSecret(password, salt, accountIterations)
}
