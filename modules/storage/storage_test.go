package storage

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckKey(t *testing.T) {
	for _, tc := range []struct {
		key string
		ok  bool
	}{
		{"t1/abc.png", true},
		{"t1/cache/abc-w200.webp", true},
		{"t1/", true},
		{"", false},
		{"../x", false},
		{"t1/../t2/x", false},
		{"/abs", false},
		{"t1//x", false},
		{"t1/./x", false},
		{`t1\x`, false},
		{"t1/x y", false},
		{".hidden", false},
		{strings.Repeat("a", 513), false},
	} {
		if err := CheckKey(tc.key); (err == nil) != tc.ok {
			t.Errorf("CheckKey(%q) = %v, want ok=%v", tc.key, err, tc.ok)
		}
	}
}

// TestLocal: objects are written whole, read by range, and removed by prefix; nothing
// reaches outside the root.
func TestLocal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := NewLocal(filepath.Join(dir, "root"))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := l.Put(ctx, "t1/a.txt", strings.NewReader("hello world")); err != nil || n != 11 {
		t.Fatalf("put: %d %v", n, err)
	}
	read := func(off, n int64) string {
		r, err := l.Open(ctx, "t1/a.txt", off, n)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		b, _ := io.ReadAll(r)
		return string(b)
	}
	if got := read(0, -1); got != "hello world" {
		t.Fatalf("whole: %q", got)
	}
	if got := read(6, 3); got != "wor" {
		t.Fatalf("range: %q", got)
	}
	if o, err := l.Stat(ctx, "t1/a.txt"); err != nil || o.Size != 11 {
		t.Fatalf("stat: %+v %v", o, err)
	}
	// A failed write leaves nothing, not even a half object.
	if _, err := l.Put(ctx, "t1/b.txt", io.MultiReader(strings.NewReader("part"), failing{})); err == nil {
		t.Fatal("a failing reader was stored")
	}
	if _, err := l.Stat(ctx, "t1/b.txt"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a failed put left an object: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "root", "t1")); len(entries) != 1 {
		t.Fatalf("a failed put left a temporary file: %v", entries)
	}
	for _, k := range []string{"../escape", "t1/../../escape"} {
		if _, err := l.Put(ctx, k, strings.NewReader("x")); err == nil {
			t.Fatalf("wrote outside the root with %q", k)
		}
	}
	if _, err := l.Put(ctx, "t2/c.txt", strings.NewReader("other")); err != nil {
		t.Fatal(err)
	}
	if err := l.DeletePrefix(ctx, "t1/"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Stat(ctx, "t1/a.txt"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted prefix still has objects: %v", err)
	}
	if _, err := l.Stat(ctx, "t2/c.txt"); err != nil {
		t.Fatalf("another prefix was deleted: %v", err)
	}
	if err := l.Delete(ctx, "t2/missing"); err != nil {
		t.Fatalf("deleting a missing object: %v", err)
	}
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("broken pipe") }
