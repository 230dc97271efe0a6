package cache

import (
	"testing"
	"time"
)

func TestTTL(t *testing.T) {
	var c TTL[string]
	if _, _, fresh := c.Get("a"); fresh {
		t.Fatal("an empty cache has a fresh entry")
	}
	_, gen, _ := c.Get("t1\x00a")
	c.Put("t1\x00a", "one", gen)
	c.Put("t2\x00a", "two", gen)
	if v, _, fresh := c.Get("t1\x00a"); !fresh || v != "one" {
		t.Fatalf("got %q %v", v, fresh)
	}
	// A read that began before a drop is not kept.
	_, stale, _ := c.Get("t1\x00b")
	c.DropPrefix("t1\x00")
	c.Put("t1\x00b", "old", stale)
	if _, _, fresh := c.Get("t1\x00b"); fresh {
		t.Fatal("a value read before a drop was kept")
	}
	if _, _, fresh := c.Get("t1\x00a"); fresh {
		t.Fatal("a dropped entry is still fresh")
	}
	if v, _, fresh := c.Get("t2\x00a"); !fresh || v != "two" {
		t.Fatal("another tenant's entry was dropped")
	}
	c.DropAll()
	if _, _, fresh := c.Get("t2\x00a"); fresh {
		t.Fatal("DropAll kept an entry")
	}
	// Entries expire.
	short := TTL[int]{TTL: time.Millisecond}
	_, gen, _ = short.Get("k")
	short.Put("k", 1, gen)
	time.Sleep(5 * time.Millisecond)
	if _, _, fresh := short.Get("k"); fresh {
		t.Fatal("an expired entry is fresh")
	}
	// The bound starts over.
	small := TTL[int]{Max: 2}
	for i, k := range []string{"a", "b", "c"} {
		_, gen, _ := small.Get(k)
		small.Put(k, i, gen)
	}
	if _, _, fresh := small.Get("a"); fresh {
		t.Fatal("the bound did not start over")
	}
	if _, _, fresh := small.Get("c"); !fresh {
		t.Fatal("the newest entry is gone")
	}
}
