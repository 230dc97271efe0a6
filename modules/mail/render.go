package mail

import (
	"html"
	"regexp"

	"strata/modules/settings"
)

// Vars are what a template may say: the link, the recipient and the project.
type Vars struct {
	URL         string
	Email       string
	ProjectName string
}

// defaults are Strata's wordings, used where a tenant wrote none. text is the plain
// part, sent beside whichever HTML is used.
var defaults = map[string]struct {
	subject, html, text string
}{
	settings.TemplatePasswordReset: {
		subject: "Reset your password for {{project_name}}",
		html: `<p>Someone asked to reset the password of {{email}} for {{project_name}}.</p>
<p><a href="{{url}}">Choose a new password</a></p>
<p>The link works once, for one hour. If you did not ask for it, ignore this mail: your password stays as it is.</p>`,
		text: "Someone asked to reset the password of {{email}} for {{project_name}}.\n\nChoose a new password: {{url}}\n\nThe link works once, for one hour. If you did not ask for it, ignore this mail: your password stays as it is.\n",
	},
	settings.TemplateUserInvitation: {
		subject: "You are invited to {{project_name}}",
		html: `<p>You have been invited to {{project_name}} as {{email}}.</p>
<p><a href="{{url}}">Accept the invitation</a></p>
<p>The link works once, for seven days.</p>`,
		text: "You have been invited to {{project_name}} as {{email}}.\n\nAccept the invitation: {{url}}\n\nThe link works once, for seven days.\n",
	},
	settings.TemplateUserRegistration: {
		subject: "Verify your email for {{project_name}}",
		html: `<p>Welcome to {{project_name}}. Please confirm that {{email}} is your address.</p>
<p><a href="{{url}}">Verify my email</a></p>
<p>The link works once, for one day. If you did not sign up, ignore this mail.</p>`,
		text: "Welcome to {{project_name}}. Please confirm that {{email}} is your address.\n\nVerify my email: {{url}}\n\nThe link works once, for one day. If you did not sign up, ignore this mail.\n",
	},
}

var placeholder = regexp.MustCompile(`\{\{\s*(url|email|project_name)\s*\}\}`)

// fill replaces the placeholders of s, escaping the values for HTML where escape is set.
// Nothing else of a template is interpreted: a tenant's template cannot run code or loop.
func fill(s string, v Vars, escape bool) string {
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		var val string
		switch placeholder.FindStringSubmatch(m)[1] {
		case "url":
			val = v.URL
		case "email":
			val = v.Email
		case "project_name":
			val = v.ProjectName
		}
		if escape {
			return html.EscapeString(val)
		}
		return val
	})
}

// Render writes the message name (a settings.MailTemplateNames) to v.Email, in the
// tenant's wording where it has one.
func Render(name string, own map[string]settings.MailTemplate, v Vars) Message {
	if v.ProjectName == "" {
		v.ProjectName = "Strata"
	}
	d := defaults[name]
	subject, body := d.subject, d.html
	if t, ok := own[name]; ok {
		subject, body = t.Subject, t.HTML
	}
	return Message{To: v.Email, Subject: fill(subject, v, false), HTML: fill(body, v, true), Text: fill(d.text, v, false)}
}
