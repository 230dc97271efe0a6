package auth

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkCheckCached is what Check adds to a request whose session it has checked
// within SessionTTL: the per-request cost of immediate revocation (docs/benchmarks.md).
func BenchmarkCheckCached(b *testing.B) {
	s := NewService(nil, Config{Secret: []byte("bench-secret-bench-secret-bench-secret"), SessionTTL: time.Hour})
	c := &Claims{Role: "role", Tenant: "0190a3c4-0000-7000-8000-000000000001", Session: "0190a3c4-0000-7000-8000-000000000002",
		RegisteredClaims: jwt.RegisteredClaims{Subject: "0190a3c4-0000-7000-8000-000000000003"}}
	_, gen, _ := s.sessions.Get("")
	s.sessions.Put(c.Tenant+"\x00"+c.Subject+"\x00"+c.Session, liveSession{ok: true, role: "role"}, gen)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Check(ctx, nil, c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
