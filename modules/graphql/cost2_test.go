package graphql

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/graphql-go/graphql/gqlerrors"
	"github.com/graphql-go/graphql/language/location"
	"github.com/graphql-go/graphql/language/source"
)

// TestCostlyDocumentsAreRefused: the documents that took graphql-go's validator
// seconds (up to 53 s) are refused by the shape checks, with the shape checks' own
// messages, in milliseconds; documents just inside the limits validate as quickly.
func TestCostlyDocumentsAreRefused(t *testing.T) {
	sch, err := Build(nestedModel(), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := NewService(Limits{}, 0)
	run := func(name, q string) *Result {
		start := time.Now()
		r := svc.Execute(context.Background(), sch, Request{Query: q}, nestedBackend{}, Options{})
		took := time.Since(start)
		msg := "(valid)"
		if len(r.Errors) > 0 {
			msg = r.Errors[0].Message[:min(60, len(r.Errors[0].Message))]
		}
		t.Logf("%-50s %6d bytes %10v %s", name, len(q), took.Round(time.Microsecond), msg)
		// Far above what they take (a few ms), far below what they took.
		if took > time.Second {
			t.Errorf("%s: %v", name, took)
		}
		return r
	}
	for _, d := range costlyDocuments() {
		r := run(d.name, d.query)
		if !r.RequestError || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "INVALID_QUERY" {
			t.Errorf("%s: %d errors, %.200v", d.name, len(r.Errors), r.Errors)
		} else if msg := r.Errors[0].Message; !strings.Contains(msg, "the query") {
			t.Errorf("%s: refused by graphql-go, not before it: %s", d.name, msg)
		}
	}
	for _, d := range atTheLimits() {
		r := run(d.name, d.query)
		if len(r.Errors) > svc.Limits().MaxErrors {
			t.Errorf("%s: %d errors", d.name, len(r.Errors))
		}
	}
}

// TestErrorsAreLocated: documents are parsed without their source (graphql-go located
// each error by reading the text from its start); errors still carry their line and
// column, on both execution paths, whatever the line breaks.
func TestErrorsAreLocated(t *testing.T) {
	sch, err := Build(nestedModel(), nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := NewService(Limits{}, 0)
	for _, c := range []struct {
		q         string
		line, col int
		valid     bool
	}{
		{q: "{ posts { nope } }", line: 1, col: 11},
		{q: "{\n  posts {\n    nope\n  }\n}", line: 3, col: 5},
		{q: "{\r\n  posts {\r\n\r\n      nope\r  }\n}", line: 4, col: 7},
	} {
		r := svc.Execute(context.Background(), sch, Request{Query: c.q}, nestedBackend{}, Options{})
		if len(r.Errors) != 1 || len(r.Errors[0].Locations) != 1 || r.Errors[0].Locations[0].Line != c.line || r.Errors[0].Locations[0].Column != c.col {
			t.Errorf("%q: %+v", c.q, r.Errors)
		}
	}
}

// TestRelocateAgreesWithGraphQLGo: relocate finds the line and column graphql-go finds
// with the source, at every offset of a text with every kind of line break.
func TestRelocateAgreesWithGraphQLGo(t *testing.T) {
	q := "{\r\n a\n\n b\r\r c\r\n\n d }\n"
	src := source.NewSource(&source.Source{Body: []byte(q)})
	for pos := range len(q) + 1 {
		errs := []gqlerrors.FormattedError{{Locations: []location.SourceLocation{location.GetLocation(nil, pos)}}}
		relocate(q, errs)
		if want := location.GetLocation(src, pos); errs[0].Locations[0] != want {
			t.Errorf("offset %d: %+v, want %+v", pos, errs[0].Locations[0], want)
		}
	}
}
