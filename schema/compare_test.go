package schema

import (
	"reflect"
	"testing"
)

// sampleLive is a small two-table schema; each call returns a fresh copy so test cases
// can mutate it.
func sampleLive() *Live {
	return &Live{Tables: map[string]*LiveTable{
		"authors": {
			Name: "authors",
			Columns: []LiveColumn{
				{Name: "id", Type: "uuid"},
				{Name: "name", Type: "character varying(255)"},
			},
		},
		"posts": {
			Name: "posts",
			Columns: []LiveColumn{
				{Name: "id", Type: "uuid"},
				{Name: "title", Type: "character varying(255)"},
				{Name: "price", Type: "numeric(10,2)", Nullable: true},
				{Name: "author", Type: "uuid", Nullable: true},
			},
			Indexes: []LiveIndex{
				{Name: "posts_title_uq", Columns: []string{"title"}, Unique: true},
				{Name: "posts_author_price", Columns: []string{"author", "price"}},
			},
			FKs: []LiveFK{{Name: "posts_author_fk", Column: "author", RefTable: "authors", OnDelete: "set_null"}},
		},
	}}
}

func TestCompareLive(t *testing.T) {
	tests := []struct {
		name     string
		expected func(*Live)
		live     func(*Live)
		want     []string
	}{
		{name: "equal"},
		{
			name: "column order is ignored",
			live: func(l *Live) {
				c := l.Tables["posts"].Columns
				c[1], c[3] = c[3], c[1]
			},
		},
		{
			name: "missing table",
			live: func(l *Live) { delete(l.Tables, "authors") },
			want: []string{"missing table authors"},
		},
		{
			name: "extra table",
			live: func(l *Live) { l.Tables["orphans"] = &LiveTable{Name: "orphans"} },
			want: []string{"unexpected table orphans"},
		},
		{
			name: "leftover rebuild table is ignored",
			live: func(l *Live) { l.Tables[tmpTablePrefix+"posts"] = &LiveTable{Name: tmpTablePrefix + "posts"} },
		},
		{
			name: "type mismatch",
			live: func(l *Live) { l.Tables["posts"].Columns[1].Type = "text" },
			want: []string{"table posts: column title has type text, expected character varying(255)"},
		},
		{
			name: "nullability mismatch",
			live: func(l *Live) { l.Tables["posts"].Columns[1].Nullable = true },
			want: []string{"table posts: column title is nullable, expected NOT NULL"},
		},
		{
			name: "missing and extra column",
			live: func(l *Live) { l.Tables["authors"].Columns[1].Name = "nom" },
			want: []string{
				"table authors: missing column name character varying(255)",
				"table authors: unexpected column nom character varying(255)",
			},
		},
		{
			name: "index missing",
			live: func(l *Live) { l.Tables["posts"].Indexes = l.Tables["posts"].Indexes[1:] },
			want: []string{"table posts: missing unique index posts_title_uq on (title)"},
		},
		{
			name: "extra index",
			live: func(l *Live) {
				l.Tables["authors"].Indexes = []LiveIndex{{Name: "authors_name", Columns: []string{"name"}}}
			},
			want: []string{"table authors: unexpected index authors_name on (name)"},
		},
		{
			name: "index columns and uniqueness differ",
			live: func(l *Live) {
				l.Tables["posts"].Indexes[1] = LiveIndex{Name: "posts_author_price", Columns: []string{"price", "author"}, Unique: true}
			},
			want: []string{
				"table posts: index posts_author_price is on (price, author), expected (author, price)",
				"table posts: index posts_author_price is unique index, expected index",
			},
		},
		{
			name: "fk on_delete mismatch",
			live: func(l *Live) { l.Tables["posts"].FKs[0].OnDelete = "cascade" },
			want: []string{"table posts: foreign key author is on delete cascade, expected set_null"},
		},
		{
			name: "fk references another table",
			live: func(l *Live) { l.Tables["posts"].FKs[0].RefTable = "users" },
			want: []string{"table posts: foreign key author references users, expected authors"},
		},
		{
			name: "fk missing",
			live: func(l *Live) { l.Tables["posts"].FKs = nil },
			want: []string{"table posts: missing foreign key author -> authors"},
		},
		{
			name: "fk name compared when both known",
			live: func(l *Live) { l.Tables["posts"].FKs[0].Name = "other" },
			want: []string{"table posts: foreign key author is named other, expected posts_author_fk"},
		},
		{
			name: "fk without a live name matches by column",
			live: func(l *Live) { l.Tables["posts"].FKs[0].Name = "" },
		},
		{
			name: "extra fk",
			live: func(l *Live) {
				l.Tables["authors"].FKs = []LiveFK{{Column: "name", RefTable: "posts", OnDelete: "cascade"}}
			},
			want: []string{"table authors: unexpected foreign key name -> posts"},
		},
		{
			name:     "trashed table present",
			expected: func(l *Live) { l.Tables["strata_trash_old"] = &LiveTable{Name: "strata_trash_old"} },
			live: func(l *Live) {
				l.Tables["strata_trash_old"] = &LiveTable{Name: "strata_trash_old", Columns: []LiveColumn{{Name: "id", Type: "uuid"}},
					Indexes: []LiveIndex{{Name: "old_ix", Columns: []string{"id"}}}}
			},
		},
		{
			name:     "trashed table missing",
			expected: func(l *Live) { l.Tables["strata_trash_old"] = &LiveTable{Name: "strata_trash_old"} },
			want:     []string{"missing table strata_trash_old"},
		},
		{
			name: "several differences are sorted",
			live: func(l *Live) {
				delete(l.Tables, "authors")
				l.Tables["posts"].Columns[2].Type = "numeric(12,2)"
				l.Tables["zzz"] = &LiveTable{Name: "zzz"}
			},
			want: []string{
				"missing table authors",
				"table posts: column price has type numeric(12,2), expected numeric(10,2)",
				"unexpected table zzz",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp, live := sampleLive(), sampleLive()
			if tc.expected != nil {
				tc.expected(exp)
			}
			if tc.live != nil {
				tc.live(live)
			}
			got := CompareLive(exp, live)
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("CompareLive:\n got  %q\n want %q", got, tc.want)
			}
		})
	}
}

func TestCompareLiveNil(t *testing.T) {
	if got := CompareLive(nil, &Live{}); len(got) != 0 {
		t.Errorf("nil vs empty: %q", got)
	}
	if got := CompareLive(sampleLive(), nil); !reflect.DeepEqual(got, []string{"missing table authors", "missing table posts"}) {
		t.Errorf("sample vs nil: %q", got)
	}
}

func TestCompareExpectedLive(t *testing.T) {
	m := &Model{
		Tables: []Table{
			{ID: "t-authors", Name: "authors", Columns: []Column{
				{ID: "a1", Name: "id", Type: TypeUUID, Nullable: true, System: true},
				{ID: "a2", Name: "name", Type: TypeString, Length: 100},
			}},
			{ID: "t-posts", Name: "posts", Columns: []Column{
				{ID: "p1", Name: "id", Type: TypeUUID, System: true},
				{ID: "p2", Name: "price", Type: TypeDecimal, Precision: 10, Scale: 2, Nullable: true},
				{ID: "p3", Name: "author", Type: TypeUUID, Nullable: true, System: true, Relation: "r1"},
			}, Indexes: []Index{{Name: "posts_author", Columns: []string{"author"}, Auto: true}}},
		},
		Relations: []Relation{{ID: "r1", Table: "posts", Name: "author", Type: ManyToOne, Target: "authors"}},
		Trash: []Trashed{
			{ID: "t1", Kind: "table", Table: "drafts", TrashName: "strata_trash_drafts"},
			{ID: "c1", Kind: "column", Table: "posts", TableID: "t-posts", Column: "body", TrashName: "strata_trash_body",
				ColumnDef: &Column{ID: "p4", Name: "body", Type: TypeText, Unique: true}},
		},
	}
	got := ExpectedLive(SQLite{}, m)
	want := &Live{Tables: map[string]*LiveTable{
		"authors": {Name: "authors", Columns: []LiveColumn{
			{Name: "id", Type: "UUID"},
			{Name: "name", Type: "VARCHAR(100)"},
		}},
		"posts": {Name: "posts",
			Columns: []LiveColumn{
				{Name: "id", Type: "UUID"},
				{Name: "price", Type: "NUMERIC(10,2)", Nullable: true},
				{Name: "author", Type: "UUID", Nullable: true},
				{Name: "strata_trash_body", Type: "TEXT", Nullable: true},
			},
			Indexes: []LiveIndex{{Name: "posts_author", Columns: []string{"author"}}},
			FKs:     []LiveFK{{Name: FKName("r1", ""), Column: "author", RefTable: "authors", OnDelete: "set_null"}},
		},
		"strata_trash_drafts": {Name: "strata_trash_drafts"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ExpectedLive:\n got  %+v\n want %+v", dump(got), dump(want))
	}
	if diff := CompareLive(got, want); len(diff) != 0 {
		t.Errorf("ExpectedLive against itself: %q", diff)
	}
}

func dump(l *Live) map[string]LiveTable {
	out := map[string]LiveTable{}
	for k, v := range l.Tables {
		out[k] = *v
	}
	return out
}

func TestNormalizeMySQLType(t *testing.T) {
	tests := map[string]string{
		"int(11)":             "int",
		"INT(11)":             "int",
		"int":                 "int",
		"bigint(20)":          "bigint",
		"smallint(6)":         "smallint",
		"mediumint(9)":        "mediumint",
		"tinyint(4)":          "tinyint",
		"tinyint(1)":          "tinyint(1)",
		"int(10) unsigned":    "int unsigned",
		"bigint(20) unsigned": "bigint unsigned",
		"varchar(255)":        "varchar(255)",
		"VARCHAR(255)":        "varchar(255)",
		"decimal(10,2)":       "decimal(10,2)",
		"char(36)":            "char(36)",
		"datetime(6)":         "datetime(6)",
		"time(6)":             "time(6)",
		"longtext":            "longtext",
		"double":              "double",
		"point":               "point",
		"enum('a','int(11)')": "enum('a','int(11)')",
	}
	for in, want := range tests {
		if got := normalizeMySQLType(in); got != want {
			t.Errorf("normalizeMySQLType(%q) = %q, want %q", in, got, want)
		}
	}
}
