package schema

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// The PostgreSQL and MySQL tests run only against a server named by these variables,
// so `go test ./...` works without any database service.
const (
	envPostgres = "STRATA_TEST_POSTGRES_URL" // postgres://postgres@127.0.0.1:5432/test?sslmode=disable
	envMySQL    = "STRATA_TEST_MYSQL_URL"    // mysql://root@127.0.0.1:3306/test (a go-sql-driver DSN works too)
)

// inspectCase is one dialect's hand-written DDL and what Inspect must make of it.
type inspectCase struct {
	dialect Dialect
	open    func(t *testing.T) *sql.Conn
	ddl     []string
	want    *Live
}

func TestInspectDialects(t *testing.T) {
	cases := map[string]inspectCase{
		"sqlite": {
			dialect: SQLite{},
			open:    openSQLite,
			ddl: []string{
				// Lower-case declared types check that Inspect upper-cases them; the
				// UNIQUE constraint makes an autoindex that must be left out.
				`CREATE TABLE "authors" ("id" UUID NOT NULL, "name" varchar(255) NOT NULL, "email" VARCHAR(255) UNIQUE,
					"mentor" UUID, PRIMARY KEY ("id"),
					CONSTRAINT "authors_mentor_fk" FOREIGN KEY ("mentor") REFERENCES "authors" ("id") ON DELETE CASCADE)`,
				`CREATE TABLE "posts" ("id" UUID NOT NULL, "title" VARCHAR(255) NOT NULL, "slug" VARCHAR(100),
					"price" NUMERIC(10,2), "rating" DOUBLE, "published" BOOLEAN NOT NULL DEFAULT 0, "views" BIGINT,
					"meta" JSON, "created_at" DATETIME NOT NULL, "author" UUID, PRIMARY KEY ("id"),
					CONSTRAINT "posts_author_fk" FOREIGN KEY ("author") REFERENCES "authors" ("id") ON DELETE SET NULL)`,
				`CREATE UNIQUE INDEX "posts_slug_uq" ON "posts" ("slug")`,
				`CREATE INDEX "posts_author_created" ON "posts" ("author", "created_at")`,
				`CREATE INDEX "posts_lower_title" ON "posts" (lower("title"))`,
				`CREATE VIEW "post_titles" AS SELECT "title" FROM "posts"`,
				`CREATE TABLE "counter" ("id" INTEGER PRIMARY KEY AUTOINCREMENT)`, // creates sqlite_sequence
			},
			want: &Live{Tables: map[string]*LiveTable{
				"authors": {Name: "authors",
					Columns: []LiveColumn{
						{Name: "id", Type: "UUID"},
						{Name: "name", Type: "VARCHAR(255)"},
						{Name: "email", Type: "VARCHAR(255)", Nullable: true},
						{Name: "mentor", Type: "UUID", Nullable: true},
					},
					FKs: []LiveFK{{Column: "mentor", RefTable: "authors", OnDelete: "cascade"}},
				},
				"posts": {Name: "posts",
					Columns: []LiveColumn{
						{Name: "id", Type: "UUID"},
						{Name: "title", Type: "VARCHAR(255)"},
						{Name: "slug", Type: "VARCHAR(100)", Nullable: true},
						{Name: "price", Type: "NUMERIC(10,2)", Nullable: true},
						{Name: "rating", Type: "DOUBLE", Nullable: true},
						{Name: "published", Type: "BOOLEAN"},
						{Name: "views", Type: "BIGINT", Nullable: true},
						{Name: "meta", Type: "JSON", Nullable: true},
						{Name: "created_at", Type: "DATETIME"},
						{Name: "author", Type: "UUID", Nullable: true},
					},
					Indexes: []LiveIndex{
						{Name: "posts_author_created", Columns: []string{"author", "created_at"}},
						{Name: "posts_slug_uq", Columns: []string{"slug"}, Unique: true},
					},
					FKs: []LiveFK{{Column: "author", RefTable: "authors", OnDelete: "set_null"}},
				},
				"counter": {Name: "counter", Columns: []LiveColumn{{Name: "id", Type: "INTEGER"}}},
			}},
		},
		"postgres": {
			dialect: Postgres{},
			open:    openPostgres,
			ddl: []string{
				`CREATE TABLE authors (id uuid NOT NULL PRIMARY KEY, name varchar(255) NOT NULL, mentor uuid,
					CONSTRAINT authors_mentor_fk FOREIGN KEY (mentor) REFERENCES authors (id) ON DELETE CASCADE)`,
				`CREATE TABLE posts (id uuid NOT NULL, title varchar(255) NOT NULL, slug varchar(100),
					price numeric(10,2), rating double precision, published boolean NOT NULL DEFAULT false,
					views bigint, n integer, meta jsonb, published_on date, created_at timestamptz NOT NULL,
					at_time time, author uuid, gone integer, PRIMARY KEY (id))`,
				// A dropped column stays in pg_attribute, marked attisdropped.
				`ALTER TABLE posts DROP COLUMN gone`,
				`ALTER TABLE posts ADD CONSTRAINT posts_author_fk FOREIGN KEY (author) REFERENCES authors (id) ON DELETE SET NULL`,
				`CREATE UNIQUE INDEX posts_slug_uq ON posts (slug)`,
				`CREATE INDEX posts_author_created ON posts (author, created_at) INCLUDE (title)`,
				`CREATE INDEX posts_lower_title ON posts (lower(title))`,
				`CREATE VIEW post_titles AS SELECT title FROM posts`,
				`CREATE SEQUENCE post_numbers`,
			},
			want: &Live{Tables: map[string]*LiveTable{
				"authors": {Name: "authors",
					Columns: []LiveColumn{
						{Name: "id", Type: "uuid"},
						{Name: "name", Type: "character varying(255)"},
						{Name: "mentor", Type: "uuid", Nullable: true},
					},
					FKs: []LiveFK{{Name: "authors_mentor_fk", Column: "mentor", RefTable: "authors", OnDelete: "cascade"}},
				},
				"posts": {Name: "posts",
					Columns: []LiveColumn{
						{Name: "id", Type: "uuid"},
						{Name: "title", Type: "character varying(255)"},
						{Name: "slug", Type: "character varying(100)", Nullable: true},
						{Name: "price", Type: "numeric(10,2)", Nullable: true},
						{Name: "rating", Type: "double precision", Nullable: true},
						{Name: "published", Type: "boolean"},
						{Name: "views", Type: "bigint", Nullable: true},
						{Name: "n", Type: "integer", Nullable: true},
						{Name: "meta", Type: "jsonb", Nullable: true},
						{Name: "published_on", Type: "date", Nullable: true},
						{Name: "created_at", Type: "timestamp with time zone"},
						{Name: "at_time", Type: "time without time zone", Nullable: true},
						{Name: "author", Type: "uuid", Nullable: true},
					},
					// The expression index names no column, so it has no row to report.
					Indexes: []LiveIndex{
						{Name: "posts_author_created", Columns: []string{"author", "created_at"}},
						{Name: "posts_slug_uq", Columns: []string{"slug"}, Unique: true},
					},
					FKs: []LiveFK{{Name: "posts_author_fk", Column: "author", RefTable: "authors", OnDelete: "set_null"}},
				},
			}},
		},
		"mysql": {
			dialect: MySQL{},
			open:    openMySQL,
			ddl: []string{
				// authors.mentor has no index of its own, so MySQL makes one named after
				// the key; Inspect must leave it out.
				"CREATE TABLE `authors` (`id` char(36) NOT NULL, `name` varchar(255) NOT NULL, `mentor` char(36) NULL," +
					" PRIMARY KEY (`id`)) ENGINE=InnoDB",
				"ALTER TABLE `authors` ADD CONSTRAINT `authors_mentor_fk` FOREIGN KEY (`mentor`) REFERENCES `authors` (`id`) ON DELETE CASCADE",
				"CREATE TABLE `posts` (`id` char(36) NOT NULL, `title` varchar(255) NOT NULL, `slug` varchar(100) NULL," +
					" `price` decimal(10,2) NULL, `rating` double NULL, `published` tinyint(1) NOT NULL DEFAULT 0," +
					" `views` bigint NULL, `n` int NULL, `small` smallint NULL, `meta` longtext NULL, `published_on` date NULL," +
					" `created_at` datetime(6) NOT NULL, `at_time` time(6) NULL, `author` char(36) NULL, PRIMARY KEY (`id`)) ENGINE=InnoDB",
				"CREATE UNIQUE INDEX `posts_slug_uq` ON `posts` (`slug`)",
				"CREATE INDEX `posts_author_created` ON `posts` (`author`, `created_at`)",
				"ALTER TABLE `posts` ADD CONSTRAINT `posts_author_fk` FOREIGN KEY (`author`) REFERENCES `authors` (`id`) ON DELETE SET NULL",
				"CREATE VIEW `post_titles` AS SELECT `title` FROM `posts`",
			},
			want: &Live{Tables: map[string]*LiveTable{
				"authors": {Name: "authors",
					Columns: []LiveColumn{
						{Name: "id", Type: "char(36)"},
						{Name: "name", Type: "varchar(255)"},
						{Name: "mentor", Type: "char(36)", Nullable: true},
					},
					FKs: []LiveFK{{Name: "authors_mentor_fk", Column: "mentor", RefTable: "authors", OnDelete: "cascade"}},
				},
				"posts": {Name: "posts",
					Columns: []LiveColumn{
						{Name: "id", Type: "char(36)"},
						{Name: "title", Type: "varchar(255)"},
						{Name: "slug", Type: "varchar(100)", Nullable: true},
						{Name: "price", Type: "decimal(10,2)", Nullable: true},
						{Name: "rating", Type: "double", Nullable: true},
						{Name: "published", Type: "tinyint(1)"},
						{Name: "views", Type: "bigint", Nullable: true},
						{Name: "n", Type: "int", Nullable: true},
						{Name: "small", Type: "smallint", Nullable: true},
						{Name: "meta", Type: "longtext", Nullable: true},
						{Name: "published_on", Type: "date", Nullable: true},
						{Name: "created_at", Type: "datetime(6)"},
						{Name: "at_time", Type: "time(6)", Nullable: true},
						{Name: "author", Type: "char(36)", Nullable: true},
					},
					Indexes: []LiveIndex{
						{Name: "posts_author_created", Columns: []string{"author", "created_at"}},
						{Name: "posts_slug_uq", Columns: []string{"slug"}, Unique: true},
					},
					FKs: []LiveFK{{Name: "posts_author_fk", Column: "author", RefTable: "authors", OnDelete: "set_null"}},
				},
			}},
		},
	}
	for _, name := range []string{"sqlite", "postgres", "mysql"} {
		tc := cases[name]
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			conn := tc.open(t)
			for _, q := range tc.ddl {
				if _, err := conn.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			got, err := tc.dialect.Inspect(ctx, conn)
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Inspect:\n got  %s\n want %s", toJSON(got), toJSON(tc.want))
			}
			if diff := CompareLive(tc.want, got); len(diff) != 0 {
				t.Errorf("CompareLive reports differences: %q", diff)
			}
		})
	}
}

// TestInspectMatchesModel plans a model through the dialect, applies it and checks that
// what Inspect reads back is exactly what ExpectedLive predicts: the dialect's
// ColumnType, its planner and its Inspect must agree for drift detection to work.
func TestInspectMatchesModel(t *testing.T) {
	n := 0
	gen := func() string { n++; return "00000000-0000-0000-0000-" + fmt.Sprintf("%012d", n) }
	changes := []Change{
		{Type: CreateTable, Create: &Table{Name: "authors", Columns: []Column{
			{Name: "name", Type: TypeString},
			{Name: "email", Type: TypeEmail, Unique: true, Nullable: true},
			{Name: "bio", Type: TypeText, Nullable: true},
			{Name: "age", Type: TypeInteger, Nullable: true, Index: true},
			{Name: "followers", Type: TypeBigint, Nullable: true},
			{Name: "score", Type: TypeFloat, Nullable: true},
			{Name: "balance", Type: TypeDecimal, Precision: 12, Scale: 3, Nullable: true},
			{Name: "active", Type: TypeBoolean, Default: json.RawMessage(`true`)},
			{Name: "born", Type: TypeDate, Nullable: true},
			{Name: "last_seen", Type: TypeDatetime, Nullable: true},
			{Name: "wakes_at", Type: TypeTime, Nullable: true},
			{Name: "ext_id", Type: TypeUUID, Nullable: true},
			{Name: "prefs", Type: TypeJSON, Nullable: true},
			{Name: "mood", Type: TypeEnum, Values: []string{"happy", "sad"}, Nullable: true},
			{Name: "langs", Type: TypeMultiEnum, Values: []string{"go", "sql"}, Nullable: true},
			{Name: "site", Type: TypeURL, Nullable: true},
			{Name: "phone", Type: TypePhone, Nullable: true},
			{Name: "fee", Type: TypeCurrency, Nullable: true},
			{Name: "share", Type: TypePercent, Nullable: true},
			{Name: "avatar", Type: TypeFile, Nullable: true},
		}}},
		{Type: CreateTable, Create: &Table{Name: "posts", Columns: []Column{
			{Name: "title", Type: TypeString, Length: 120},
			{Name: "price", Type: TypeDecimal, Nullable: true},
			{Name: "draft", Type: TypeText, Nullable: true},
		}}, Relations: []Relation{{Table: "posts", Name: "author", Type: ManyToOne, Target: "authors"}}},
		{Type: AddRelation, Relation: &Relation{Table: "posts", Name: "cover", Type: OneToOne, Target: "authors", OnDelete: "cascade"}},
		{Type: AddRelation, Relation: &Relation{Table: "authors", Name: "fans", Type: OneToMany, Target: "posts", OnDelete: "restrict"}},
		{Type: AddRelation, Relation: &Relation{Table: "posts", Name: "editors", Type: ManyToMany, Target: "authors"}},
		{Type: AddIndex, Table: "posts", Index: &Index{Columns: []string{"title", "price"}}},
		// SQLite rebuilds the table for these: the checks then cover the rebuilt table.
		{Type: AlterColumn, Table: "authors", Column: "name", Def: &Column{Type: TypeString, Length: 200, Nullable: true}},
		{Type: DropColumn, Table: "posts", Column: "draft"},
		{Type: CreateTable, Create: &Table{Name: "drafts", Columns: []Column{{Name: "body", Type: TypeText, Nullable: true}}}},
		{Type: DropTable, Table: "drafts"},
	}
	for _, name := range []string{"sqlite", "postgres", "mysql"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			d, err := DialectByName(name)
			if err != nil {
				t.Fatal(err)
			}
			conn := map[string]func(*testing.T) *sql.Conn{"sqlite": openSQLite, "postgres": openPostgres, "mysql": openMySQL}[name](t)
			n = 0
			m := &Model{}
			for i, c := range changes {
				after, resolved, err := Apply(m, c, gen)
				if err != nil {
					t.Fatalf("change %d (%s): %v", i, c.Type, err)
				}
				plan, err := d.Plan(m, resolved)
				if err != nil {
					t.Fatalf("plan change %d (%s): %v", i, c.Type, err)
				}
				runPlan(t, ctx, d, conn, plan)
				m = after
			}
			live, err := d.Inspect(ctx, conn)
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			if diff := CompareLive(ExpectedLive(d, m), live); len(diff) != 0 {
				t.Errorf("live schema differs from the model:\n%s\nlive: %s", toJSON(diff), toJSON(live))
			}
		})
	}
}

// runPlan applies a plan the way a migration would, without the metadata writes.
func runPlan(t *testing.T, ctx context.Context, d Dialect, conn *sql.Conn, plan Plan) {
	t.Helper()
	if err := d.BeforeMigration(ctx, conn); err != nil {
		t.Fatalf("before migration: %v", err)
	}
	defer func() {
		if err := d.AfterMigration(ctx, conn); err != nil {
			t.Errorf("after migration: %v", err)
		}
	}()
	for _, s := range plan.Steps {
		for _, q := range s.Up {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	if err := d.VerifyKeys(ctx, conn); err != nil {
		t.Fatalf("verify keys: %v", err)
	}
}

func toJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// randomName makes a schema/database name unlikely to collide with a parallel run.
func randomName(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "inspect_" + hex.EncodeToString(b)
}

// openSQLite returns a connection to a fresh database file with keys enforced, as a
// tenant's would be.
func openSQLite(t *testing.T) *sql.Conn {
	path := filepath.Join(t.TempDir(), "tenant.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return dedicatedConn(t, db)
}

// openPostgres returns a connection whose search_path is a fresh schema, the way a
// tenant's connection is set up; the schema is dropped afterwards.
func openPostgres(t *testing.T) *sql.Conn {
	url := os.Getenv(envPostgres)
	if url == "" {
		t.Skipf("PostgreSQL tests need %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", envPostgres)
	}
	ctx := context.Background()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	schema := randomName(t)
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+Postgres{}.Quote(schema)); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	// Cleanups run last-in first-out: the connection closes before the schema drops.
	t.Cleanup(func() {
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+Postgres{}.Quote(schema)+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	conn := dedicatedConn(t, db)
	if _, err := conn.ExecContext(ctx, "SET search_path TO "+Postgres{}.Quote(schema)); err != nil {
		t.Fatalf("set search_path: %v", err)
	}
	return conn
}

// openMySQL returns a connection to a fresh database, dropped afterwards.
func openMySQL(t *testing.T) *sql.Conn {
	dsn := os.Getenv(envMySQL)
	if dsn == "" {
		t.Skipf("MySQL tests need %s (e.g. mysql://root@127.0.0.1:3306/test)", envMySQL)
	}
	dsn = mysqlDSN(t, dsn)
	ctx := context.Background()
	admin, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	name := randomName(t)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+MySQL{}.Quote(name)); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(ctx, "DROP DATABASE "+MySQL{}.Quote(name)); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("parse %s: %v", envMySQL, err)
	}
	cfg.DBName = name
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return dedicatedConn(t, db)
}

// dedicatedConn pins one connection, since session settings (search_path, pragmas)
// must hold for every statement of a test.
func dedicatedConn(t *testing.T, db *sql.DB) *sql.Conn {
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// mysqlDSN accepts Strata's mysql://user:pass@host:port/db URL form (what CI sets) as well
// as a go-sql-driver DSN, and returns the latter.
func mysqlDSN(t *testing.T, raw string) string {
	if !strings.HasPrefix(raw, "mysql://") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %s: %v", envMySQL, err)
	}
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User, cfg.DBName, cfg.ParseTime = "tcp", u.Host, u.User.Username(), strings.TrimPrefix(u.Path, "/"), true
	cfg.Passwd, _ = u.User.Password()
	return cfg.FormatDSN()
}
