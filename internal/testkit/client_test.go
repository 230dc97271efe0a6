package testkit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestReplyGet(t *testing.T) {
	r := Reply{"data": []any{map[string]any{"id": "a", "columns": []any{map[string]any{"name": "x"}, map[string]any{"name": "y"}}}}}
	for path, want := range map[string]any{"data.0.id": "a", "data.1.id": nil, "data.-1.id": nil, "data.x": nil, "nope": nil, "data.0.columns.1.name": "y"} {
		if got := r.Get(path); got != want {
			t.Errorf("Get(%q) = %v, want %v", path, got, want)
		}
	}
	if f := r.FieldNames("data.0.columns"); !f["x"] || !f["y"] || len(f) != 2 {
		t.Errorf("FieldNames = %v", f)
	}
}

// TestRunSendsScenarios: the runner sends each scenario's method, path, body and
// headers with the client's token, and checks status and texts.
func TestRunSendsScenarios(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"errors":[{"message":"no"}]}`))
			return
		}
		_, _ = w.Write([]byte(`{"data":{"method":"` + r.Method + `","path":"` + r.URL.Path + `","x":"` + r.Header.Get("X-Test") + `","body":` + string(body) + `}}`))
	}))
	defer srv.Close()
	c := &Client{T: t, Base: srv.URL, Token: "tok"}
	c.Run(t, []Scenario{
		{Name: "post", Method: "POST", Path: "/a", Body: map[string]any{"k": 1}, Headers: map[string]string{"X-Test": "h"}, Status: 200,
			Contains: []string{`"method":"POST"`, `"path":"/a"`, `"x":"h"`, `"k":1`}, NotContains: []string{"errors"}},
	})
	anon := &Client{T: t, Base: srv.URL}
	if st, r := anon.Call("GET", "/", nil, nil); st != 401 || r.Get("errors.0.message") != "no" {
		t.Errorf("anonymous: %d %s", st, r)
	}
}

// TestRunCountsStatements: the runner reads the counter around each request.
func TestRunCountsStatements(t *testing.T) {
	var ran int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran += 2 // the "server" runs two statements per request
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	c := &Client{T: t, Base: srv.URL, Statements: func() int64 { return ran }}
	c.Run(t, []Scenario{{Method: "GET", Path: "/", Status: 200, MaxStatements: AtMost(2)}})
	if ran != 2 {
		t.Errorf("ran %d", ran)
	}
}
