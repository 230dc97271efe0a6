package testkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Reply is a decoded JSON answer.
type Reply map[string]any

// Get follows a dotted path through objects and arrays ("data.migration.seq",
// "data.0.id"); nil when absent.
func (r Reply) Get(path string) any {
	var cur any = map[string]any(r)
	for _, p := range strings.Split(path, ".") {
		switch x := cur.(type) {
		case map[string]any:
			cur = x[p]
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i < 0 || i >= len(x) {
				return nil
			}
			cur = x[i]
		default:
			return nil
		}
	}
	return cur
}

// Text is Get for a string ("" when absent or not a string).
func (r Reply) Text(path string) string {
	s, _ := r.Get(path).(string)
	return s
}

func (r Reply) String() string {
	b, _ := json.Marshal(map[string]any(r))
	return string(b)
}

// FieldNames lists the names of the objects in the array at path (columns, relations).
func (r Reply) FieldNames(path string) map[string]bool {
	out := map[string]bool{}
	list, _ := r.Get(path).([]any)
	for _, x := range list {
		if m, ok := x.(map[string]any); ok {
			if n, ok := m["name"].(string); ok {
				out[n] = true
			}
		}
	}
	return out
}

// Client calls one Strata over HTTP, as the holder of Token (none: anonymous).
type Client struct {
	T     testing.TB
	Base  string
	Token string
	// Statements, when set, reads how many statements the server has run (a pool's
	// counter), for scenarios that bound them.
	Statements func() int64
}

// Call sends a request; body may be nil, a string or a value to encode as JSON.
func (c *Client) Call(method, path string, body any, headers map[string]string) (int, Reply) {
	c.T.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req, _ := http.NewRequest(method, c.Base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := Reply{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			out = Reply{"raw": string(raw)}
		}
	}
	return resp.StatusCode, out
}

// MustCall is Call with an expected status.
func (c *Client) MustCall(want int, method, path string, body any) Reply {
	c.T.Helper()
	st, r := c.Call(method, path, body, nil)
	if st != want {
		c.T.Fatalf("%s %s: status %d, want %d: %s", method, path, st, want, r)
	}
	return r
}

// Scenario is one request and what its answer must be.
type Scenario struct {
	Name    string
	Method  string
	Path    string
	Body    any
	Headers map[string]string
	// Status is the answer's status.
	Status int
	// Contains and NotContains are texts the answer's JSON must and must not hold.
	Contains    []string
	NotContains []string
	// MaxStatements, when set (AtMost), bounds the statements the request may run (the
	// client's Statements counter).
	MaxStatements *int64
}

// AtMost is a MaxStatements bound.
func AtMost(n int64) *int64 { return &n }

// Run sends each scenario in order as c, checking each as a subtest.
func (c *Client) Run(t *testing.T, scenarios []Scenario) {
	t.Helper()
	for _, sc := range scenarios {
		name := sc.Name
		if name == "" {
			name = sc.Method + " " + sc.Path
		}
		t.Run(name, func(t *testing.T) {
			cc := *c
			cc.T = t
			var before int64
			if sc.MaxStatements != nil {
				if c.Statements == nil {
					t.Fatal("a scenario bounds statements, but the client has no Statements counter")
				}
				before = c.Statements()
			}
			st, r := cc.Call(sc.Method, sc.Path, sc.Body, sc.Headers)
			if sc.MaxStatements != nil {
				n := c.Statements() - before
				t.Logf("%d statements (at most %d)", n, *sc.MaxStatements)
				if n > *sc.MaxStatements {
					t.Errorf("ran %d statements, at most %d allowed", n, *sc.MaxStatements)
				}
			}
			if st != sc.Status {
				t.Fatalf("status %d, want %d: %s", st, sc.Status, r)
			}
			text := r.String()
			for _, s := range sc.Contains {
				if !strings.Contains(text, s) {
					t.Errorf("the answer lacks %q: %s", s, text)
				}
			}
			for _, s := range sc.NotContains {
				if strings.Contains(text, s) {
					t.Errorf("the answer holds %q: %.500s", s, text)
				}
			}
		})
	}
}
