// Package functions runs a tenant's own code: endpoints under /fn, hooks on its
// tables' writes, schedules, and manual runs. Definitions are part of the schema model
// (schema.Function), so they move through the migration history with the tables; this
// package compiles them, runs them in worker processes (package sandbox), and records
// each run.
package functions

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/evanw/esbuild/pkg/api"
	"github.com/robfig/cron/v3"

	"strata/modules/apierr"
	"strata/schema"
)

// CompileError is source that does not transpile: the first error, where it is.
type CompileError struct {
	Line, Column int // 1-based
	Message      string
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Message)
}

// Compile transpiles TypeScript or JavaScript into the CommonJS module the worker
// runs, and returns it with the source's checksum.
func Compile(source string) (code, sum string, err error) {
	res := api.Transform(source, api.TransformOptions{
		Loader:     api.LoaderTS,
		Format:     api.FormatCommonJS,
		Target:     api.ES2017, // goja runs async functions; newer syntax is lowered
		Sourcefile: "function.ts",
		LogLevel:   api.LogLevelSilent,
	})
	if len(res.Errors) > 0 {
		e := res.Errors[0]
		ce := &CompileError{Line: 1, Column: 1, Message: e.Text}
		if l := e.Location; l != nil {
			// esbuild counts the column in bytes; an editor counts characters.
			col := min(l.Column, len(l.LineText))
			ce.Line, ce.Column = l.Line, utf8.RuneCountInString(l.LineText[:col])+1
		}
		return "", "", ce
	}
	code = string(res.Code)
	if !strings.Contains(code, "default") {
		return "", "", &CompileError{Line: 1, Column: 1, Message: "the module has no default export: write `export default async function (ctx) { … }`"}
	}
	h := sha256.Sum256([]byte(source))
	return code, hex.EncodeToString(h[:]), nil
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// Prepare completes a definition before it goes down the migration path: defaults,
// the transpiled code and checksum, a cron expression that parses. A refusal is the
// contract's 400 (FUNCTION_INVALID for source that does not compile).
func Prepare(f *schema.Function) error {
	if f.TimeoutMs == 0 {
		f.TimeoutMs = 5000
	}
	if f.MemoryMB == 0 {
		f.MemoryMB = 64
	}
	if f.RunAs == "" {
		f.RunAs = "caller"
	}
	f.Method = strings.ToUpper(f.Method)
	if f.Kind == "endpoint" && f.Method == "" {
		f.Method = "ANY"
	}
	f.Path = strings.Trim(f.Path, "/")
	if f.Kind != "endpoint" {
		f.Method, f.Path = "", ""
	}
	if f.Kind != "hook" {
		f.Table, f.Event, f.Phase, f.Priority = "", "", "", 0
	} else if f.Phase == "" {
		f.Phase = "before"
	}
	if f.Kind != "schedule" {
		f.Cron = ""
	} else if _, err := cronParser.Parse(f.Cron); err != nil {
		return apierr.InvalidPayload("cron", "%v", err)
	}
	if len(f.Source) > schema.MaxFunctionSource {
		return apierr.InvalidPayload("source", "at most %d bytes", schema.MaxFunctionSource)
	}
	code, sum, err := Compile(f.Source)
	if err != nil {
		ce := err.(*CompileError)
		return apierr.New(400, "FUNCTION_INVALID", "%s", ce.Error()).With("field", "source").With("line", ce.Line).With("column", ce.Column)
	}
	f.Code, f.Checksum = code, sum
	return nil
}
