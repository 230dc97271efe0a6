package rest

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"strata/modules/apierr"
	"strata/modules/identity"
	"strata/modules/mail"
	"strata/modules/settings"
)

// mailWork bounds the work a request leaves running after it answered (finding the
// account, issuing its token, queueing the mail).
const mailWork = 30 * time.Second

// rationed runs do unless account (or the address) asked too often lately; every call
// counts, not only failures: each may send a mail, and a flood of them is the abuse.
func (a *API) rationed(c *fiber.Ctx, account, what string, do func() error) error {
	if err := a.allowed(c, account, what); err != nil {
		return err
	}
	a.Throttle.Fail(account, c.IP())
	return do()
}

// mailLink is the link a mail carries: the client's (checked against the tenant's
// allowed origins) or this node's UI page.
func (a *API) mailLink(st settings.Settings, slug, asked, field, page string) (string, error) {
	if asked == "" {
		return a.Mail.DefaultLink(slug, page), nil
	}
	if len(asked) > 2000 || !a.Mail.LinkAllowed(st, asked) {
		return "", apierr.InvalidPayload(field, "%s must be on this server or on one of the tenant's auth_redirect_origins", field)
	}
	return asked, nil
}

// passwordRequest is POST /auth/password/request {email, reset_url?}: always 204. The
// account is looked up and the mail queued after the answer, so neither the answer nor
// its timing tells whether the account exists.
func (a *API) passwordRequest(c *fiber.Ctx) error {
	var in struct {
		Email    string `json:"email"`
		ResetURL string `json:"reset_url,omitempty"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.Email == "" || len(in.Email) > 320 {
		return apierr.InvalidPayload("email", "email is required")
	}
	tc := tenantOf(c)
	st, err := a.Settings.Get(c.UserContext(), tc.t.ID, tc.db)
	if err != nil {
		return err
	}
	link, err := a.mailLink(st, tc.t.Slug, in.ResetURL, "reset_url", "reset-password")
	if err != nil {
		return err
	}
	return a.rationed(c, tc.t.ID+"\x00reset\x00"+strings.ToLower(strings.TrimSpace(in.Email)), "password reset requests", func() error {
		tn := idTenant(c, nil)
		go a.afterAnswer(tc.t.Slug, "password reset", func(ctx context.Context) error {
			u, found, err := a.Identity.UserByEmail(ctx, tn, in.Email)
			if err != nil || !found || u.Status != "active" {
				return err
			}
			return a.mailToken(ctx, tn, st, u, identity.TokenPasswordReset, settings.TemplatePasswordReset, link)
		})
		return c.SendStatus(fiber.StatusNoContent)
	})
}

// afterAnswer does work a request started but does not wait for, within mailWork.
func (a *API) afterAnswer(slug, what string, do func(ctx context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), mailWork)
	defer cancel()
	if err := do(ctx); err != nil {
		a.Log.Warn("auth mail", "tenant", slug, "what", what, "err", err)
	}
}

type tokenPassword struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

// tokenFlow spends a mailed token, throttled per address like sign-ins: a wrong token
// counts as a failed attempt, so tokens cannot be guessed either.
func (a *API) tokenFlow(c *fiber.Ctx, kind string, do func(tn identity.Tenant) (string, error)) error {
	tc := tenantOf(c)
	wrong := func(ae *apierr.Error) bool { return ae.Code == "INVALID_TOKEN" }
	return a.throttled(c, tc.t.ID+"\x00"+kind+"\x00"+c.IP(), "invalid links", wrong, func() error {
		user, err := do(idTenant(c, nil))
		if err != nil {
			return err
		}
		// Whoever held the account's sessions (maybe who stole the old password)
		// signs in anew.
		a.revokeSessions(c, user)
		return c.SendStatus(fiber.StatusNoContent)
	})
}

// passwordReset is POST /auth/password/reset {token, password}.
func (a *API) passwordReset(c *fiber.Ctx) error {
	var in tokenPassword
	if err := decode(c, &in); err != nil {
		return err
	}
	return a.tokenFlow(c, identity.TokenPasswordReset, func(tn identity.Tenant) (string, error) {
		return a.Identity.ResetPassword(c.UserContext(), tn, in.Token, in.Password)
	})
}

// inviteAccept is POST /users/invite/accept {token, password}.
func (a *API) inviteAccept(c *fiber.Ctx) error {
	var in tokenPassword
	if err := decode(c, &in); err != nil {
		return err
	}
	return a.tokenFlow(c, identity.TokenInvitation, func(tn identity.Tenant) (string, error) {
		return a.Identity.AcceptInvite(c.UserContext(), tn, in.Token, in.Password)
	})
}

// verifyEmail is POST /users/register/verify-email?token=.
func (a *API) verifyEmail(c *fiber.Ctx) error {
	token := c.Query("token")
	return a.tokenFlow(c, identity.TokenVerification, func(tn identity.Tenant) (string, error) {
		return a.Identity.VerifyEmail(c.UserContext(), tn, token)
	})
}

// invite is POST /users/invite {email, role, invite_url?} (admins): the user is added
// as invited and mailed a link to choose a password.
func (a *API) invite(c *fiber.Ctx) error {
	var in struct {
		Email     string `json:"email"`
		Role      string `json:"role"`
		InviteURL string `json:"invite_url,omitempty"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	tc := tenantOf(c)
	ctx := c.UserContext()
	st, err := a.Settings.Get(ctx, tc.t.ID, tc.db)
	if err != nil {
		return err
	}
	link, err := a.mailLink(st, tc.t.Slug, in.InviteURL, "invite_url", "accept-invite")
	if err != nil {
		return err
	}
	return a.rationed(c, tc.t.ID+"\x00invite\x00"+strings.ToLower(strings.TrimSpace(in.Email)), "invitations", func() error {
		tn := idTenant(c, nil)
		u, err := a.Identity.Invite(ctx, tn, in.Email, in.Role)
		if err != nil {
			return err
		}
		if err := a.mailToken(ctx, tn, st, u, identity.TokenInvitation, settings.TemplateUserInvitation, link); err != nil {
			return err
		}
		return c.SendStatus(fiber.StatusNoContent)
	})
}

// mailToken issues a user a token of kind and queues the mail template carrying it on
// link.
func (a *API) mailToken(ctx context.Context, tn identity.Tenant, st settings.Settings, u identity.MailTarget, kind, template, link string) error {
	token, err := a.Identity.IssueToken(ctx, tn, u.ID, kind)
	if err != nil {
		return err
	}
	return a.Mail.Send(ctx, tn.ID, st, template, u.Email, mail.WithToken(link, token))
}

// mailTest is POST /settings/mail/test {to} (admins): one message sent now through the
// tenant's server, answering the server's own refusal when it fails.
func (a *API) mailTest(c *fiber.Ctx) error {
	var in struct {
		To string `json:"to"`
	}
	if err := decode(c, &in); err != nil {
		return err
	}
	if !mail.ValidAddress(in.To) {
		return apierr.InvalidPayload("to", "to must be one email address")
	}
	tc := tenantOf(c)
	ctx := c.UserContext()
	st, err := a.Settings.Get(ctx, tc.t.ID, tc.db)
	if err != nil {
		return err
	}
	return a.rationed(c, tc.t.ID+"\x00mailtest", "test mails", func() error {
		srv, err := a.Mail.ServerOf(st)
		if err != nil {
			return apierr.InvalidPayload("smtp.password", "%v", err)
		}
		name := st.ProjectName
		if name == "" {
			name = tc.t.Slug
		}
		msg := mail.Message{To: in.To, Subject: "Test mail from " + name, Text: "This is a test mail from Strata: the mail settings of " + name + " work.\n"}
		if err := a.Mail.Sender.Send(ctx, srv, msg); err != nil {
			return apierr.New(fiber.StatusBadGateway, "SERVICE_UNAVAILABLE", "the mail could not be sent: %v", err).With("field", "smtp")
		}
		return c.SendStatus(fiber.StatusNoContent)
	})
}

// mailLog is GET /settings/mail (admins): the tenant's latest messages and what became
// of them, without their bodies.
func (a *API) mailLog(c *fiber.Ctx) error {
	list, err := a.Mail.Queue.List(c.UserContext(), tenantOf(c).t.ID, 100)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"data": list})
}
