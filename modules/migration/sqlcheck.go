package migration

import (
	"fmt"
	"strings"
	"unicode"

	"strata/modules/database"
	"strata/schema"
)

// refusedStatements are statement openings custom SQL may not use: transaction control
// (the migration's transaction, and its record, must stay whole) and session changes
// (the connection outlives the migration, or would run the rest as someone else).
var refusedStatements = [][]string{
	{"BEGIN"}, {"START", "TRANSACTION"}, {"COMMIT"}, {"END"}, {"ROLLBACK"}, {"ABORT"},
	{"SAVEPOINT"}, {"RELEASE"}, {"PREPARE", "TRANSACTION"}, {"XA"},
	{"SET"}, {"RESET"}, {"DISCARD"}, {"LISTEN"}, {"UNLISTEN"}, {"USE"},
	{"ATTACH"}, {"DETACH"}, {"PRAGMA"}, {"VACUUM"}, {"LOCK", "TABLES"}, {"UNLOCK", "TABLES"},
	{"LOAD"}, {"COPY"}, {"GRANT"}, {"REVOKE"}, {"CREATE", "EVENT"}, {"ALTER", "EVENT"},
	{"CREATE", "EXTENSION"}, {"CREATE", "SCHEMA"}, {"CREATE", "DATABASE"}, {"CREATE", "USER"},
	{"CREATE", "ROLE"}, {"ALTER", "ROLE"}, {"ALTER", "USER"}, {"ALTER", "SYSTEM"}, {"ALTER", "DATABASE"},
	{"HANDLER"}, {"FLUSH"}, {"KILL"}, {"SHUTDOWN"},
}

// CheckCustomSQL refuses, before anything runs, custom SQL that controls the
// transaction, changes the session, or writes or alters Strata's own tables
// (database.Protected) by name, and returns its statements. It reads statements as
// the dialect's server splits them: quoted strings (with the dialect's escapes),
// quoted identifiers, comments and PostgreSQL's dollar-quoted bodies are skipped, and a
// routine's BEGIN … END body stays one statement.
//
// It is the first of two fences: each database also enforces what it can while the
// SQL runs (the tenant's own account, statements run one by one in a transaction
// block on PostgreSQL, SQLite's authorizer), since a name built at run time is
// invisible here.
func CheckCustomSQL(dialect, field, sqlText string) ([]string, error) {
	var texts []string
	for _, stmt := range splitStatements(dialect, sqlText) {
		if len(stmt.words) == 0 {
			continue
		}
		for _, r := range refusedStatements {
			if hasPrefixWords(stmt.words, r) {
				return nil, fieldErr(field, "%s statements are not allowed in custom SQL: the migration runs in a transaction and a session of its own; put only schema and data statements in it", strings.Join(r, " "))
			}
		}
		if dialect == "mysql" && dynamicSQL(stmt.words) {
			// A statement MySQL builds from a string at run time is invisible here and,
			// unlike PostgreSQL's, runs outside any transaction this could check.
			return nil, fieldErr(field, "PREPARE and EXECUTE are not allowed in custom SQL on MySQL: write the statements themselves")
		}
		if t := protectedTarget(stmt.words); t != "" {
			return nil, fieldErr(field, "custom SQL may not write or alter %q: it is one of Strata's own tables (use the API for them)", t)
		}
		texts = append(texts, stmt.text)
	}
	return texts, nil
}

func fieldErr(field, format string, args ...any) error {
	return &schema.FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// protectedTarget is the protected table a statement writes or alters, if any.
func protectedTarget(words []string) string {
	for i := 0; i < len(words); i++ {
		var target string
		switch words[i] {
		case "INTO", "UPDATE", "TRUNCATE", "TABLE", "ON", "JOIN", "USING":
			// INSERT/REPLACE INTO t, UPDATE t, TRUNCATE [TABLE] t, ALTER/DROP/RENAME TABLE
			// t, CREATE TRIGGER … ON t, CREATE INDEX … ON t; a multi-table UPDATE or
			// DELETE names its targets after JOIN/USING.
			if i+1 < len(words) {
				target = words[i+1]
			}
		case "FROM":
			if i > 0 && words[i-1] == "DELETE" && i+1 < len(words) {
				target = words[i+1]
			}
		}
		if target == "" {
			continue
		}
		if target == "ONLY" && i+2 < len(words) {
			target = words[i+2]
		}
		// schema.table or db.table: the table is what counts.
		if dot := strings.LastIndexByte(target, '.'); dot >= 0 {
			target = target[dot+1:]
		}
		if database.Protected(strings.ToLower(target)) && writesOrAlters(words) {
			return strings.ToLower(target)
		}
	}
	return ""
}

// writesOrAlters reports whether a statement can change data or schema (a plain
// SELECT … FROM custom_migrations JOIN … is fine).
func writesOrAlters(words []string) bool {
	switch words[0] {
	case "SELECT", "WITH", "EXPLAIN", "SHOW", "DESCRIBE", "DESC", "VALUES", "TABLE":
		// WITH … INSERT/UPDATE/DELETE writes: look for those words.
		if words[0] == "WITH" {
			for _, w := range words {
				if w == "INSERT" || w == "UPDATE" || w == "DELETE" {
					return true
				}
			}
		}
		return false
	}
	return true
}

// dynamicSQL reports whether a MySQL statement (a routine body included) prepares or
// executes SQL built from a string.
func dynamicSQL(words []string) bool {
	for _, w := range words {
		if w == "PREPARE" || w == "EXECUTE" {
			return true
		}
	}
	return false
}

func hasPrefixWords(stmt, prefix []string) bool {
	if len(stmt) < len(prefix) {
		return false
	}
	for i, w := range prefix {
		if stmt[i] != w {
			return false
		}
	}
	return true
}

// statement is one statement of a script: its text, and its words upper-cased
// (identifiers unquoted, strings and comments dropped).
type statement struct {
	text  string
	words []string
}

// splitStatements lexes a script into statements the way the dialect's server reads it.
func splitStatements(dialect, s string) []statement {
	mysql, postgres := dialect == "mysql", dialect == "postgres"
	var out []statement
	var cur []string
	start := 0
	depth := 0 // BEGIN … END nesting of a routine body
	flush := func(end int) {
		out = append(out, statement{text: strings.TrimSpace(s[start:end]), words: cur})
		cur, depth, start = nil, 0, end+1
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ';':
			if depth > 0 {
				i++
				continue
			}
			flush(i)
			i++
		case c == '-' && i+1 < len(s) && s[i+1] == '-' && (!mysql || i+2 >= len(s) || s[i+2] <= ' '):
			// MySQL takes "--" as a comment only before a space or control character.
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '#' && mysql:
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			if mysql && i+2 < len(s) && (s[i+2] == '!' || (s[i+2] == 'M' && i+3 < len(s) && s[i+3] == '!')) {
				// MySQL and MariaDB run what an executable comment (/*!50001 … */,
				// /*M!100100 … */) holds: read it as code, after its version.
				i += 3
				if s[i-1] == 'M' {
					i++
				}
				for i < len(s) && s[i] >= '0' && s[i] <= '9' {
					i++
				}
				continue
			}
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				i = len(s)
			} else {
				i += end + 4
			}
		case c == '\'':
			// Backslash escapes: MySQL's strings, PostgreSQL's E'…' strings.
			escapes := mysql || (postgres && i > 0 && (s[i-1] == 'E' || s[i-1] == 'e') && (i < 2 || !isWordByte(s[i-2])))
			i = skipQuoted(s, i, '\'', escapes)
		case c == '"' && mysql:
			i = skipQuoted(s, i, '"', true)
		case c == '"' || c == '`' || (c == '[' && dialect == "sqlite"):
			closer := c
			if c == '[' {
				closer = ']'
			}
			end := strings.IndexByte(s[i+1:], closer)
			if end < 0 {
				cur = append(cur, strings.ToUpper(s[i+1:]))
				i = len(s)
			} else {
				cur = appendIdent(cur, strings.ToUpper(s[i+1:i+1+end]))
				i += end + 2
			}
		case c == '$' && postgres:
			// A dollar-quoted body ($$ … $$ or $tag$ … $tag$) is one string.
			j := i + 1
			for j < len(s) && (s[j] == '_' || unicode.IsLetter(rune(s[j])) || (j > i+1 && unicode.IsDigit(rune(s[j])))) {
				j++
			}
			if j < len(s) && s[j] == '$' {
				tag := s[i : j+1]
				end := strings.Index(s[j+1:], tag)
				if end < 0 {
					i = len(s)
				} else {
					i = j + 1 + end + len(tag)
				}
			} else {
				i = j
			}
		case isWordByte(c):
			j := i
			// An identifier goes on through "$" (PostgreSQL) and "." (schema.table).
			for j < len(s) && (isWordByte(s[j]) || s[j] == '.' || s[j] == '$') {
				j++
			}
			w := strings.ToUpper(s[i:j])
			switch {
			case w == "BEGIN" && len(cur) > 0 && cur[0] == "CREATE":
				depth++
			case w == "END" && depth > 0:
				// END IF / END LOOP … close their own blocks, not BEGIN's.
				k := j
				for k < len(s) && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r') {
					k++
				}
				m := k
				for m < len(s) && isWordByte(s[m]) {
					m++
				}
				switch strings.ToUpper(s[k:m]) {
				case "IF", "LOOP", "WHILE", "REPEAT", "CASE":
				default:
					depth--
				}
			}
			cur = append(cur, w)
			i = j
		case c == '.' && len(cur) > 0:
			// "schema"."table": glue the parts into one word.
			cur[len(cur)-1] += "."
			i++
		default:
			i++
		}
	}
	if start < len(s) {
		flush(len(s))
	}
	return out
}

// appendIdent adds a quoted identifier, joining it to a preceding "schema." part.
func appendIdent(cur []string, ident string) []string {
	if n := len(cur); n > 0 && strings.HasSuffix(cur[n-1], ".") {
		cur[n-1] += ident
		return cur
	}
	return append(cur, ident)
}

func skipQuoted(s string, i int, q byte, escapes bool) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if escapes {
				j++
			}
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}
