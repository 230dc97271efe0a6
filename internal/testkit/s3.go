package testkit

import (
	"net/http/httptest"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3Server starts an S3-protocol server in this process (objects in memory; buckets
// are made on first use) and returns its endpoint URL. It speaks S3 over HTTP, so the
// code under test uses its real S3 client against it.
func S3Server(t testing.TB) string {
	t.Helper()
	faker := gofakes3.New(s3mem.New(), gofakes3.WithAutoBucket(true))
	srv := httptest.NewServer(faker.Server())
	t.Cleanup(srv.Close)
	return srv.URL
}
