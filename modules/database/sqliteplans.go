package database

import (
	"database/sql/driver"
	"fmt"
	"reflect"
	"unsafe"

	"modernc.org/libc"
	"modernc.org/libc/sys/types"
	sqlite3 "modernc.org/sqlite/lib"
)

// stableSQLitePlans turns on SQLite's query planner stability guarantee
// (SQLITE_DBCONFIG_ENABLE_QPSG) on a new connection. Without it, once ANALYZE (or
// PRAGMA optimize) has gathered samples, every statement that compares an indexed
// column with a bound parameter is compiled twice on each run: SQLite marks its plan as
// depending on the value and compiles it again on the first step after every bind. A
// cached statement would then save nothing. With it, a statement keeps the plan it was
// prepared with, as PostgreSQL's generic plans do.
//
// The driver has no call for this setting, so the connection's sqlite3 handle is read
// from its unexported fields; a driver that no longer has them fails the connection
// loudly rather than running without the setting unnoticed.
func stableSQLitePlans(c driver.Conn) error {
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("sqlite connection %T: not the expected driver", c)
	}
	db, tls := v.Elem().FieldByName("db"), v.Elem().FieldByName("tls")
	if !db.IsValid() || db.Kind() != reflect.Uintptr || !tls.IsValid() || tls.Type() != reflect.TypeFor[*libc.TLS]() {
		return fmt.Errorf("sqlite connection %T: the driver's connection has changed shape", c)
	}
	handle := *(*uintptr)(unsafe.Pointer(db.UnsafeAddr()))
	t := *(**libc.TLS)(unsafe.Pointer(tls.UnsafeAddr()))
	if handle == 0 || t == nil {
		return fmt.Errorf("sqlite connection %T is not open", c)
	}
	// The variadic (int onoff, int *pRes) arguments, one 8-byte slot each.
	va := libc.Xmalloc(t, types.Size_t(16))
	if va == 0 {
		return fmt.Errorf("sqlite: out of memory")
	}
	defer libc.Xfree(t, va)
	if rc := sqlite3.Xsqlite3_db_config(t, handle, sqlite3.SQLITE_DBCONFIG_ENABLE_QPSG, libc.VaList(va, int32(1), uintptr(0))); rc != sqlite3.SQLITE_OK {
		return fmt.Errorf("sqlite: enable the planner stability guarantee: result code %d", rc)
	}
	return nil
}
