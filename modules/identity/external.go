package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"strata/modules/auth"
	"strata/modules/database"
	"strata/modules/records"
)

// identitiesTable links users to their accounts at sign-in providers.
const identitiesTable = "strata_user_identities"

// ExternalAccount is a user's account at a sign-in provider: the provider's name and
// its subject (the account's stable id there), with what the provider said of it.
type ExternalAccount struct {
	Provider string
	Subject  string
	Email    string
}

// key is the digest that is unique per provider and subject (the link table's
// identity_key): one account at a provider links to one user.
func (a ExternalAccount) key() string { return auth.HashToken(a.Provider + "\x00" + a.Subject) }

// LinkedUser finds the user an external account is linked to ("" when none is). A link
// whose user was deleted since is removed, and reads as none.
func (s *Service) LinkedUser(ctx context.Context, tn Tenant, a ExternalAccount) (string, error) {
	d := tn.DB.Dialect
	q := d.Quote
	var linkID, userID string
	err := tn.DB.QueryRowContext(ctx, d.Rebind("SELECT "+q("id")+", "+q("user_id")+" FROM "+q(identitiesTable)+" WHERE "+q("identity_key")+" = ?"), a.key()).
		Scan(&linkID, &userID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find linked user: %w", err)
	}
	var one int
	err = tn.DB.QueryRowContext(ctx, d.Rebind("SELECT 1 FROM "+q("strata_users")+" WHERE "+q("id")+" = ?"), userID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = s.remove(ctx, tn, identitiesTable, linkID)
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("find linked user: %w", err)
	}
	return userID, nil
}

// Link links an external account to an existing user.
func (s *Service) Link(ctx context.Context, tn Tenant, userID string, a ExternalAccount) error {
	return s.write(ctx, tn, func(w *records.SystemWriter) error { return s.insertLink(ctx, w, userID, a) })
}

func (s *Service) insertLink(ctx context.Context, w *records.SystemWriter, userID string, a ExternalAccount) error {
	err := w.Insert(ctx, identitiesTable, s.NewID(), map[string]any{"user_id": userID, "provider": a.Provider, "subject": a.Subject,
		"identity_key": a.key(), "email": database.NullText(strings.ToLower(a.Email))})
	if err != nil {
		return uniqueErr(err, "subject")
	}
	return nil
}

// CreateLinkedUser adds an active user who signs in through an external account, and
// links the two, in one transaction: no password (one can be set later by a reset),
// role "" for the built-in authenticated role.
func (s *Service) CreateLinkedUser(ctx context.Context, tn Tenant, a ExternalAccount, role, firstName, lastName string) (string, error) {
	email := a.Email
	cols, err := s.userColumns(ctx, tn, UserInput{Email: &email, Role: &role, FirstName: &firstName, LastName: &lastName})
	if err != nil {
		return "", err
	}
	if err := s.defaultRole(ctx, tn, cols); err != nil {
		return "", err
	}
	cols["status"] = "active"
	id := s.NewID()
	err = s.write(ctx, tn, func(w *records.SystemWriter) error {
		if err := w.Insert(ctx, "strata_users", id, cols); err != nil {
			return uniqueErr(err, "email")
		}
		return s.insertLink(ctx, w, id, a)
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// UnlinkProvider removes every link to accounts at provider: a provider deleted, or
// pointed at another issuer, must not let its old subjects (or a new provider's same
// subjects) sign in as the users they were linked to.
func (s *Service) UnlinkProvider(ctx context.Context, tn Tenant, provider string) error {
	return s.write(ctx, tn, func(w *records.SystemWriter) error {
		_, err := w.Delete(ctx, identitiesTable, records.Where{"provider": provider})
		return err
	})
}
