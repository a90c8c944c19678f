package sqlstore

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ucoauth/go-ucoauth/ucoauth"
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

// withoutRecord returns err with every run of recordRun or more bytes of rec
// in its text replaced by [ucoauth.Redacted]. A database quotes the value it
// refused (MySQL: Incorrect integer value: '{"version":1,...}'; PostgreSQL:
// invalid input syntax for type integer: "{...}", when a table made with
// WithExistingTable has the wrong column type), and the record holds the
// tokens. A message longer than maxScannedMessage is not shown at all. The
// cost is linear in the sizes of the message and the record. It still
// unwraps to err.
func withoutRecord(err error, rec []byte) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if len(msg) > maxScannedMessage {
		return &recordError{msg: fmt.Sprintf("the database's message (%d bytes) is not shown: it may quote the record", len(msg)), err: err}
	}
	// Every window of the message, then one pass over the record.
	at := make(map[string][]int)
	for i := 0; i+recordRun <= len(msg); i++ {
		at[msg[i:i+recordRun]] = append(at[msg[i:i+recordRun]], i)
	}
	covered := make([]bool, len(msg))
	found := false
	for j := 0; j+recordRun <= len(rec) && len(at) > 0; j++ {
		if ps, ok := at[string(rec[j:j+recordRun])]; ok {
			for _, i := range ps {
				for k := i; k < i+recordRun; k++ {
					covered[k] = true
				}
			}
			delete(at, string(rec[j:j+recordRun]))
			found = true
		}
	}
	if !found {
		return err
	}
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		if !covered[i] {
			b.WriteByte(msg[i])
			continue
		}
		b.WriteString(ucoauth.Redacted)
		for i+1 < len(msg) && covered[i+1] {
			i++
		}
	}
	return &recordError{msg: b.String(), err: err}
}

// maxScannedMessage caps the database messages withoutRecord scans.
const maxScannedMessage = 64 << 10

// recordRun is the shortest run of a record's bytes that withoutRecord
// recognises in an error: shorter runs would match ordinary words.
const recordRun = 12

// recordError is a database error whose text quoted a record, scrubbed.
type recordError struct {
	msg string
	err error
}

func (e *recordError) Error() string { return e.msg }

func (e *recordError) Unwrap() error { return e.err }
