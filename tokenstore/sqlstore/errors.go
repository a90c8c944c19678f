package sqlstore

import (
	"errors"
	"strings"

	"github.com/ucoauth/go-ucoauth/internal/redact"
)

// The database errors the store tells apart, and the scrub that keeps a
// record a database quoted out of an error. No file of the package is
// below this one.

// uniqueViolation reports whether err is a duplicate primary key, in any
// driver's words: SQLSTATE 23505 (PostgreSQL), MySQL's error 1062, SQLite's
// "UNIQUE constraint failed".
func uniqueViolation(err error) bool {
	if state, ok := sqlState(err); ok {
		return state == "23505"
	}
	m := err.Error()
	return strings.Contains(m, "(SQLSTATE 23505)") || strings.Contains(m, "Error 1062 (23000)") ||
		strings.Contains(m, "UNIQUE constraint failed")
}

// sqlState is err's SQLSTATE when its driver says it (pgx, lib/pq).
func sqlState(err error) (string, bool) {
	var se interface{ SQLState() string }
	if errors.As(err, &se) {
		return se.SQLState(), true
	}
	return "", false
}

// pgLockTimeout reports whether err is PostgreSQL's lock_timeout
// (SQLSTATE 55P03), in any driver's words.
func pgLockTimeout(err error) bool {
	m := err.Error()
	return strings.Contains(m, "55P03") || strings.Contains(m, "lock timeout")
}

// rolledBack reports a deadlock or serialization failure, in any driver's
// words: SQLSTATE 40001 or 40P01, MySQL's error 1213.
func rolledBack(err error) bool {
	if err == nil {
		return false
	}
	if state, ok := sqlState(err); ok {
		return state == "40001" || state == "40P01"
	}
	m := err.Error()
	return strings.Contains(m, "(SQLSTATE 40001)") || strings.Contains(m, "(SQLSTATE 40P01)") || strings.Contains(m, "Error 1213 (40001)")
}

func sqliteBusy(err error) bool {
	if err == nil {
		return false
	}
	m := err.Error()
	return strings.Contains(m, "SQLITE_BUSY") || strings.Contains(m, "database is locked") || strings.Contains(m, "database table is locked")
}

// withoutRecord returns err with every long run of rec's bytes in its text
// scrubbed (see redact.WithoutRuns). A database quotes the value it refused
// (MySQL: Incorrect integer value: '{"version":1,...}'; PostgreSQL: invalid
// input syntax for type integer: "{...}", when a table made with
// WithExistingTable has the wrong column type), and the record holds the
// tokens.
func withoutRecord(err error, rec []byte) error { return redact.WithoutRuns(err, rec) }
