package auth

import (
	"context"
	"crypto/subtle"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"strata/modules/apierr"
)

// SecondFactor is what a realm keeps of a subject's TOTP two-factor: the secret (empty:
// none), the last time step a code was used at (a code is good once), and the SHA-256
// of each unused recovery code.
type SecondFactor struct {
	Secret   string
	LastStep int64
	Recovery []string
}

// SecondFactors stores subjects' second factors. UseStep records a code used at step
// only if no code at that step or later was used, so a code replayed within its window
// fails; UseRecovery removes one recovery code only if it is still there.
type SecondFactors interface {
	Get(ctx context.Context, subject string) (SecondFactor, error)
	Set(ctx context.Context, subject string, f SecondFactor) error
	UseStep(ctx context.Context, subject string, step int64) (bool, error)
	UseRecovery(ctx context.Context, subject string, f SecondFactor, hash string) (bool, error)
}

// totpPeriod and totpSkew: 30-second codes, one step either side accepted for clocks
// that drift.
const (
	totpPeriod = 30
	totpSkew   = 1
	// RecoveryCodes is how many recovery codes enabling two-factor shows, once.
	RecoveryCodes = 10
)

// GenerateTOTP makes a new TOTP secret for account, with the otpauth:// URL an
// authenticator app reads (as a QR code). Nothing is stored until EnableTOTP.
func GenerateTOTP(issuer, account string) (secret, url string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", fmt.Errorf("generate totp secret: %w", err)
	}
	return key.Secret(), key.URL(), nil
}

// codeStep finds the time step at which code is secret's code, within the skew, or 0.
func codeStep(secret, code string, now time.Time) int64 {
	code = strings.TrimSpace(code)
	if len(code) != 6 {
		return 0
	}
	for d := -totpSkew; d <= totpSkew; d++ {
		at := now.Add(time.Duration(d*totpPeriod) * time.Second)
		want, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return at.Unix() / totpPeriod
		}
	}
	return 0
}

// recoveryHash is what is stored of a recovery code, however it was typed.
func recoveryHash(code string) string { return HashToken(strings.ToLower(strings.TrimSpace(code))) }

func invalidOTP(msg string) error { return apierr.Unauthorized("INVALID_OTP", "%s", msg) }

// EnableTOTP turns two-factor on for subject with secret, once otp shows the subject's
// app has it; it returns the recovery codes, shown this once and stored hashed.
func (s *Service) EnableTOTP(ctx context.Context, r *Realm, subject, secret, code string) ([]string, error) {
	if r.TFA == nil {
		return nil, apierr.Forbidden("two-factor sign-in is not available for this account")
	}
	cur, err := r.TFA.Get(ctx, subject)
	if err != nil {
		return nil, err
	}
	if cur.Secret != "" {
		return nil, apierr.New(409, "INVALID_PAYLOAD", "two-factor sign-in is already on; turn it off first").With("field", "secret")
	}
	if _, err := otp.NewKeyFromURL("otpauth://totp/x?secret=" + secret); err != nil || len(secret) < 16 || len(secret) > 64 {
		return nil, apierr.InvalidPayload("secret", "secret is not a secret from tfa/generate")
	}
	step := codeStep(secret, code, s.cfg.Now())
	if step == 0 {
		return nil, invalidOTP("the one-time password does not match the secret")
	}
	codes := make([]string, RecoveryCodes)
	f := SecondFactor{Secret: secret, LastStep: step}
	for i := range codes {
		codes[i] = strings.ToLower(RandomToken(8))
		f.Recovery = append(f.Recovery, recoveryHash(codes[i]))
	}
	if err := r.TFA.Set(ctx, subject, f); err != nil {
		return nil, err
	}
	return codes, nil
}

// DisableTOTP turns two-factor off for subject, given a current code or a recovery code.
func (s *Service) DisableTOTP(ctx context.Context, r *Realm, subject, code string) error {
	if r.TFA == nil {
		return apierr.Forbidden("two-factor sign-in is not available for this account")
	}
	on, err := s.checkSecondFactor(ctx, r, subject, code)
	if err != nil {
		return err
	}
	if !on {
		return apierr.New(409, "INVALID_PAYLOAD", "two-factor sign-in is not on").With("field", "otp")
	}
	return r.TFA.Set(ctx, subject, SecondFactor{})
}

// checkSecondFactor checks code for subject when two-factor is on (on false: it is off,
// and code is not looked at). A code is good once; a recovery code too.
func (s *Service) checkSecondFactor(ctx context.Context, r *Realm, subject, code string) (on bool, err error) {
	if r.TFA == nil {
		return false, nil
	}
	f, err := r.TFA.Get(ctx, subject)
	if err != nil || f.Secret == "" {
		return false, err
	}
	if strings.TrimSpace(code) == "" {
		return true, invalidOTP("a one-time password (otp) is required")
	}
	if step := codeStep(f.Secret, code, s.cfg.Now()); step != 0 {
		if step <= f.LastStep {
			return true, invalidOTP("that one-time password was already used; wait for the next")
		}
		used, err := r.TFA.UseStep(ctx, subject, step)
		if err != nil {
			return true, err
		}
		if !used {
			return true, invalidOTP("that one-time password was already used; wait for the next")
		}
		return true, nil
	}
	if h := recoveryHash(code); slices.Contains(f.Recovery, h) {
		used, err := r.TFA.UseRecovery(ctx, subject, f, h)
		if err != nil {
			return true, err
		}
		if used {
			return true, nil
		}
	}
	return true, invalidOTP("invalid one-time password")
}
