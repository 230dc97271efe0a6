package migration

import (
	"strings"

	"strata/schema"
)

// Enfyra's clients of its transition period confirm a destructive change by typing a
// phrase (?schemaConfirm=) instead of sending the challenge's hash and token. A door
// passes the phrase (Request.ConfirmPhrase) only for a tenant whose
// legacy_schema_confirm setting is on; this file says which phrase confirms what.

// legacyPhrase is the phrase that confirms changes, as Enfyra's policy service wrote
// it: "DELETE TABLE posts" for dropping table posts, "APPLY SCHEMA CHANGES posts" for
// other changes of posts' definition. It is "" where Enfyra had no phrase: a request
// that touches several tables, or trash, rollbacks, hand-written SQL and functions,
// which only the hash and token confirm.
func legacyPhrase(changes []schema.Change) string {
	table, drops := "", 0
	for _, c := range changes {
		t := c.Table
		switch c.Type {
		case schema.DropTable:
			drops++
		case schema.AddRelation, schema.DropRelation:
			if c.Relation != nil {
				t = c.Relation.Table
			}
		case schema.AlterTable, schema.AddColumn, schema.AlterColumn, schema.RenameColumn, schema.DropColumn, schema.AddIndex, schema.DropIndex:
		default:
			return ""
		}
		if t == "" || (table != "" && t != table) {
			return ""
		}
		table = t
	}
	switch {
	case table == "" || (drops > 0 && drops < len(changes)):
		return ""
	case drops > 0:
		return "DELETE TABLE " + table
	}
	return "APPLY SCHEMA CHANGES " + table
}

// normalPhrase compares phrases as Enfyra did: spaces trimmed and collapsed, case
// ignored.
func normalPhrase(s string) string { return strings.ToUpper(strings.Join(strings.Fields(s), " ")) }

// confirmReason returns why a destructive request is not confirmed, or "" when it is:
// by the challenge's hash and token, or by the legacy phrase its door passed.
func (s *Service) confirmReason(tenantID, hash string, req Request, changes []schema.Change) string {
	reason := s.checkConfirm(tenantID, hash, req.ConfirmHash, req.ConfirmToken)
	if reason == "" || req.ConfirmPhrase == "" {
		return reason
	}
	want := legacyPhrase(changes)
	switch {
	case want == "":
		return "no schemaConfirm phrase confirms this change (a phrase confirms changes of one table); send X-Schema-Confirm-Hash and X-Schema-Confirm-Token to confirm"
	case normalPhrase(req.ConfirmPhrase) != normalPhrase(want):
		return "the schemaConfirm phrase of this change is " + want + "; or send X-Schema-Confirm-Hash and X-Schema-Confirm-Token to confirm"
	}
	return ""
}
