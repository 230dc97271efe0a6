package realtime

import (
	"encoding/json"
	"reflect"
	"testing"

	"strata/modules/bus"
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
