package migration

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestTimedOutNamesEitherBound: custom SQL cut off by the database's own statement
// bound names STRATA_CUSTOM_SQL_TIMEOUT as surely as one cut off by the context's
// deadline; on a loaded machine PostgreSQL's statement_timeout came first and the error
// said only "canceling statement due to statement timeout". A cancel the client caused
// is not called a time-out.
func TestTimedOutNamesEitherBound(t *testing.T) {
	live := context.Background()
	expired, cancel := context.WithDeadline(live, time.Now().Add(-time.Second))
	defer cancel()
	gone, leave := context.WithCancel(live)
	leave()
	pgTimeout := &pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}
	cases := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"the context's deadline", expired, errors.New("driver: bad connection"), true},
		{"PostgreSQL's statement_timeout first", live, pgTimeout, true},
		{"MariaDB's max_statement_time first", live, &mysql.MySQLError{Number: 1969, Message: "Query execution was interrupted (max_statement_time exceeded)"}, true},
		{"MySQL's max_execution_time first", live, &mysql.MySQLError{Number: 3024, Message: "maximum statement execution time exceeded"}, true},
		{"the client went away", gone, pgTimeout, false},
		{"an ordinary error", live, &pgconn.PgError{Code: "42601", Message: "syntax error"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := timedOut(c.ctx, c.err, time.Second)
			if got := strings.Contains(err.Error(), "STRATA_CUSTOM_SQL_TIMEOUT"); got != c.want {
				t.Fatalf("timedOut(%v) = %q, names the time-out: %v, want %v", c.err, err, got, c.want)
			}
			if !errors.Is(err, c.err) {
				t.Fatalf("the database's error is lost: %v", err)
			}
		})
	}
	if timedOut(live, nil, time.Second) != nil {
		t.Fatal("no error is no time-out")
	}
}
