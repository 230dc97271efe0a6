package schema

import (
	"fmt"
	"strings"
)

// MySQL and MariaDB limits that PostgreSQL and SQLite do not have. A change that breaks
// one is refused when it is planned, with the field to fix, instead of failing at
// execution (a failed migration left behind) or being silently weakened (MariaDB turns
// an index on a too-long column into a prefix index).
const (
	// MySQLMaxRowBytes bounds a row's columns, counted at their largest (long texts and
	// JSON as 12 bytes each, their pointer), plus a bit per nullable column.
	MySQLMaxRowBytes = 65535
	// MySQLMaxVarchar is the longest string column (utf8mb4: 4 bytes a character).
	MySQLMaxVarchar = 16383
	// MySQLMaxKeyBytes bounds an index key: the sum of its columns' largest sizes.
	MySQLMaxKeyBytes = 3072
	// MySQLMaxIndexes is InnoDB's limit of secondary indexes on one table.
	MySQLMaxIndexes = 64
)

// mysqlMaxBytesPerChar is what a character of utf8mb4 may take.
const mysqlMaxBytesPerChar = 4

// mysqlBytes is the most a value of column c takes in a row (row) and in an index key
// (key), as MySQL and MariaDB count them for their limits.
func mysqlBytes(c *Column) (row, key int) {
	chars := func(n int) (int, int) {
		b := n * mysqlMaxBytesPerChar
		if b > 255 {
			return b + 2, b // a two-byte length in the row; keys count the characters only
		}
		return b + 1, b
	}
	switch c.Type {
	case TypeString, TypeEnum, TypeEmail, TypeURL, TypePhone:
		return chars(c.TextLength())
	case TypeText, TypeJSON, TypeMultiEnum:
		return 12, 0 // stored apart from the row; never a key
	case TypeInteger:
		return 4, 4
	case TypeBigint, TypeFloat, TypePercent, TypeDatetime:
		return 8, 8
	case TypeDecimal:
		n := decimalBytes(c.Precision, c.Scale)
		return n, n
	case TypeCurrency:
		n := decimalBytes(CurrencyPrecision, CurrencyScale)
		return n, n
	case TypeBoolean:
		return 1, 1
	case TypeDate:
		return 3, 3
	case TypeTime:
		return 6, 6
	case TypeUUID, TypeFile:
		return 36 * mysqlMaxBytesPerChar, 36 * mysqlMaxBytesPerChar // char(36)
	}
	return chars(255)
}

// decimalBytes is the storage of decimal(p,s): nine digits in four bytes, on each side
// of the point, and the leftover digits in as few bytes as hold them.
func decimalBytes(p, s int) int {
	leftover := [...]int{0, 1, 1, 2, 2, 3, 3, 4, 4}
	side := func(digits int) int { return digits/9*4 + leftover[digits%9] }
	return side(p-s) + side(s)
}

// limits checks the tables a change made or altered against MySQL's limits; tables it
// did not touch are left alone, whatever they hold.
func (d MySQL) limits(before, after *Model, c Change) error {
	old := map[string]string{}
	for i := range before.Tables {
		t := PhysicalTable(before, &before.Tables[i])
		old[t.ID] = string(mustJSON(t))
	}
	for i := range after.Tables {
		t := PhysicalTable(after, &after.Tables[i])
		if old[t.ID] == string(mustJSON(t)) {
			continue
		}
		if err := mysqlTableLimits(&t, c); err != nil {
			return err
		}
	}
	return nil
}

func mysqlTableLimits(t *Table, c Change) *FieldError {
	rowBytes, nullable := 0, 0
	for i := range t.Columns {
		col := &t.Columns[i]
		if (col.Type == TypeString || col.Type.SizedText()) && col.TextLength() > MySQLMaxVarchar {
			return fieldErr(limitField(c, "length"), "%s.%s: a string column holds at most %d characters on MySQL/MariaDB (utf8mb4); use type text for longer values",
				t.Name, col.Name, MySQLMaxVarchar)
		}
		row, _ := mysqlBytes(col)
		rowBytes += row
		if col.Nullable {
			nullable++
		}
	}
	if total := rowBytes + (nullable+7)/8; total > MySQLMaxRowBytes {
		return fieldErr(limitField(c, "length"), "table %q: its columns would take up to %d bytes a row (dropped columns kept in the trash count too); MySQL/MariaDB allow %d: make string columns shorter (4 bytes a character) or use type text",
			t.Name, total, MySQLMaxRowBytes)
	}
	if len(t.Indexes) > MySQLMaxIndexes {
		return fieldErr(limitField(c, "index"), "table %q would have %d indexes; MySQL/MariaDB allow %d on one table", t.Name, len(t.Indexes), MySQLMaxIndexes)
	}
	for _, ix := range t.Indexes {
		keyBytes := 0
		for _, name := range ix.Columns {
			if col := t.Column(name); col != nil {
				_, key := mysqlBytes(col)
				keyBytes += key
			}
		}
		if keyBytes > MySQLMaxKeyBytes {
			what := "index " + ix.Name
			if ix.Auto {
				what = "the index of " + strings.Join(ix.Columns, ", ")
			}
			return fieldErr(limitField(c, indexProp(ix)), "table %q: %s would have keys of up to %d bytes; MySQL/MariaDB allow %d (a string column takes 4 bytes a character, so an indexed or unique one holds at most %d)",
				t.Name, what, keyBytes, MySQLMaxKeyBytes, MySQLMaxKeyBytes/mysqlMaxBytesPerChar)
		}
	}
	return nil
}

func indexProp(ix Index) string {
	if ix.Unique {
		return "unique"
	}
	return "index"
}

// limitField names the request field a limit error points at: the column's property
// for a column change, the column list of an index, the columns of a new table.
func limitField(c Change, prop string) string {
	switch c.Type {
	case AddColumn, AlterColumn:
		return "column." + prop
	case AddIndex, CreateTable:
		return "columns"
	case AddRelation:
		return "relation"
	}
	return fmt.Sprint(c.Type)
}
