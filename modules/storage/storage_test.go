package storage

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"strata/internal/testkit"
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

// TestBackends: every backend keeps the same contract: objects are written whole, read
// by range, listed and removed by prefix, and nothing reaches outside its keys.
func TestBackends(t *testing.T) {
	local, err := NewLocal(filepath.Join(t.TempDir(), "root"))
	if err != nil {
		t.Fatal(err)
	}
	s3, err := NewS3(S3Config{Endpoint: testkit.S3Server(t), Region: "us-east-1", Bucket: "strata-test", Key: "k", Secret: "s", ForcePathStyle: true, Root: "node1"})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]Backend{"local": local, "s3": s3} {
		t.Run(name, func(t *testing.T) { contract(t, b) })
	}
	// A failed local write leaves no temporary file behind either.
	if _, err := local.Put(context.Background(), "t9/b.txt", io.MultiReader(strings.NewReader("part"), failing{})); err == nil {
		t.Fatal("a failing reader was stored")
	}
	if entries, _ := os.ReadDir(filepath.Join(local.Root, "t9")); len(entries) != 0 {
		t.Fatalf("a failed put left a temporary file: %v", entries)
	}
}

func contract(t *testing.T, b Backend) {
	ctx := context.Background()
	if n, err := b.Put(ctx, "t1/a.txt", strings.NewReader("hello world")); err != nil || n != 11 {
		t.Fatalf("put: %d %v", n, err)
	}
	read := func(off, n int64) string {
		r, err := b.Open(ctx, "t1/a.txt", off, n)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		got, _ := io.ReadAll(r)
		return string(got)
	}
	if got := read(0, -1); got != "hello world" {
		t.Fatalf("whole: %q", got)
	}
	if got := read(6, 3); got != "wor" {
		t.Fatalf("range: %q", got)
	}
	if got := read(6, -1); got != "world" {
		t.Fatalf("from an offset: %q", got)
	}
	if o, err := b.Stat(ctx, "t1/a.txt"); err != nil || o.Size != 11 {
		t.Fatalf("stat: %+v %v", o, err)
	}
	if _, err := b.Open(ctx, "t1/missing", 0, -1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a missing object: %v", err)
	}
	if _, err := b.Put(ctx, "t1/b.txt", io.MultiReader(strings.NewReader("part"), failing{})); err == nil {
		t.Fatal("a failing reader was stored")
	}
	if _, err := b.Stat(ctx, "t1/b.txt"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a failed put left an object: %v", err)
	}
	for _, k := range []string{"../escape", "t1/../../escape"} {
		if _, err := b.Put(ctx, k, strings.NewReader("x")); err == nil {
			t.Fatalf("wrote outside the keys with %q", k)
		}
	}
	if _, err := b.Put(ctx, "t1/cache/c.txt", strings.NewReader("cached")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "t2/c.txt", strings.NewReader("other")); err != nil {
		t.Fatal(err)
	}
	if objs, err := b.List(ctx, "t1/"); err != nil || len(objs) != 2 {
		t.Fatalf("list: %+v %v", objs, err)
	}
	if err := b.DeletePrefix(ctx, "t1/"); err != nil {
		t.Fatal(err)
	}
	if objs, err := b.List(ctx, "t1/"); err != nil || len(objs) != 0 {
		t.Fatalf("deleted prefix still has objects: %+v %v", objs, err)
	}
	if _, err := b.Stat(ctx, "t2/c.txt"); err != nil {
		t.Fatalf("another prefix was deleted: %v", err)
	}
	if err := b.Delete(ctx, "t2/missing"); err != nil {
		t.Fatalf("deleting a missing object: %v", err)
	}
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("broken pipe") }
