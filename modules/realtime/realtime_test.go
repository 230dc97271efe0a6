package realtime

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"strata/modules/apierr"
	"strata/modules/bus"
	"strata/modules/query"
)

func TestCoalesce(t *testing.T) {
	ev := func(tenant, table, action string, ids ...string) bus.Message {
		raw, _ := json.Marshal(ItemsEvent{Table: table, Action: action, IDs: ids})
		return bus.Message{Topic: bus.TopicItems, Tenant: tenant, Data: raw}
	}
	in := []bus.Message{
		ev("t1", "posts", "create", "a"), ev("t1", "posts", "create", "b"), ev("t1", "posts", "update", "a"),
		ev("t2", "posts", "update", "c"), ev("t1", "posts", "update", "b"), {Topic: bus.TopicSchema, Tenant: "t1"},
		ev("t1", "posts", "update", "d"), ev("t1", "posts", "update", "e"),
	}
	var got []string
	for _, m := range coalesce(in) {
		var e ItemsEvent
		_ = json.Unmarshal(m.Data, &e)
		got = append(got, m.Tenant+" "+m.Topic+" "+e.Action+" "+joinIDs(e.IDs))
	}
	want := []string{"t1 items create a,b", "t1 items update a", "t2 items update c", "t1 items update b", "t1 schema  ", "t1 items update d,e"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func joinIDs(ids []string) string {
	out := ""
	for i, id := range ids {
		if i > 0 {
			out += ","
		}
		out += id
	}
	return out
}

// fakeSocket feeds a session scripted frames and collects what it writes.
type fakeSocket struct {
	in  chan []byte
	out chan []byte
}

func (f *fakeSocket) ReadMessage() (int, []byte, error) {
	m, ok := <-f.in
	if !ok {
		return 0, nil, io.EOF
	}
	return textMessage, m, nil
}
func (f *fakeSocket) WriteMessage(_ int, data []byte) error {
	f.out <- append([]byte(nil), data...)
	return nil
}
func (f *fakeSocket) WriteControl(int, []byte, time.Time) error { return nil }
func (f *fakeSocket) SetReadLimit(int64)                        {}
func (f *fakeSocket) SetReadDeadline(time.Time) error           { return nil }
func (f *fakeSocket) SetWriteDeadline(time.Time) error          { return nil }
func (f *fakeSocket) Close() error                              { return nil }

// fakeScope reads nothing and refuses nothing but the table "secret".
type fakeScope struct{}

func (fakeScope) TenantID() string                          { return "t" }
func (fakeScope) Key() string                               { return "k" }
func (fakeScope) Expires() time.Time                        { return time.Time{} }
func (fakeScope) Authenticated() bool                       { return false }
func (fakeScope) Unrestricted(context.Context, string) bool { return true }
func (fakeScope) List(_ context.Context, table string, _ query.Params) ([]map[string]any, error) {
	if table == "secret" {
		return nil, apierr.Forbidden("no")
	}
	return []map[string]any{{"id": "a"}}, nil
}

// FuzzClientMessage: whatever a client sends, the session answers with JSON messages
// (or nothing) and never panics; a ping after it is still answered.
func FuzzClientMessage(f *testing.F) {
	for _, seed := range []string{`{"type":"ping"}`, `{"type":"subscribe","collection":"posts","uid":"u","query":{"fields":["id"],"filter":{"id":{"_eq":"a"}}}}`,
		`{"type":"subscribe","collection":"posts","query":{"filter":"{\"id\":1}"}}`, `{"type":"subscribe","collection":"secret"}`,
		`{"type":"unsubscribe","uid":"u"}`, `{"type":"auth","access_token":"x"}`, `not json`, `[]`, `{"type":5}`, `{"type":"subscribe","event":"nope"}`} {
		f.Add([]byte(seed))
	}
	b := bus.NewLocal()
	defer b.Close()
	h := NewHub(b, Limits{MessagesPerSec: 1000}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer h.Close()
	f.Fuzz(func(t *testing.T, msg []byte) {
		sock := &fakeSocket{in: make(chan []byte, 2), out: make(chan []byte, 64)}
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.Serve(sock, fakeScope{}, func(context.Context, string) (Scope, error) { return nil, apierr.Unauthorized("AUTH_FAILED", "no") })
		}()
		sock.in <- msg
		sock.in <- []byte(`{"type":"ping"}`)
		for {
			select {
			case raw := <-sock.out:
				var m map[string]any
				if err := json.Unmarshal(raw, &m); err != nil {
					t.Fatalf("not JSON: %q", raw)
				}
				if m["type"] == "pong" {
					close(sock.in)
					<-done
					return
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("no pong after %q", msg)
			}
		}
	})
}
