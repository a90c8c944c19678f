package sqlstore

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/ucoauth/go-ucoauth/internal/record"
)

// The table's identity and its statements per dialect: plain values and
// functions that use no other file of the package.

// Dialect is the SQL dialect of the database under a SQL store. It decides
// the DDL, the placeholders and the refresh lock.
type Dialect int

// The dialects a SQL store speaks.
const (
	// Postgres is PostgreSQL (any driver: pgx's stdlib, lib/pq).
	Postgres Dialect = iota
	// MySQL is MySQL or MariaDB (github.com/go-sql-driver/mysql).
	MySQL
	// SQLite is SQLite (modernc.org/sqlite, mattn/go-sqlite3).
	SQLite
)

// String names the dialect.
func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case MySQL:
		return "mysql"
	case SQLite:
		return "sqlite"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// DefaultTable is the table a SQL store uses unless WithTable says
// otherwise. SQLite's lock leases live in the table of the same name with
// the suffix "_locks".
const DefaultTable = "ucoauth_tokens"

// ErrInvalidTable means a table name that WithTable was given is not a
// plain identifier (see WithTable), or that the table is not usable.
var ErrInvalidTable error = record.Permanent("sqlstore: invalid SQL table")

var validTable = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]{0,56}\.)?[A-Za-z_][A-Za-z0-9_]{0,56}$`)

// unixMilli is t in Unix milliseconds, 0 for the zero time, saturated at
// the int64 range.
func unixMilli(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.After(time.UnixMilli(math.MaxInt64)):
		return math.MaxInt64
	case t.Before(time.UnixMilli(math.MinInt64)):
		return math.MinInt64
	}
	return t.UnixMilli()
}

// queries are a store's statements, for its dialect and table.
type queries struct {
	ddl, probes                              []string
	load, loadRev, insert, update, del, keys string
	tryLock, unlock, keep                    string
}

// quoteIdent quotes a validated (schema-qualified) identifier.
func quoteIdent(d Dialect, name string) string {
	q := `"`
	if d == MySQL {
		q = "`"
	}
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = q + p + q
	}
	return strings.Join(parts, ".")
}

// Schema returns the statements New runs to create the store's
// tables for dialect, for teams that manage migrations themselves (see
// WithExistingTable). table is as for WithTable; "" means DefaultTable.
func Schema(dialect Dialect, table string) ([]string, error) {
	if table == "" {
		table = DefaultTable
	}
	if !validTable.MatchString(table) {
		return nil, fmt.Errorf("%w: %q is not a plain identifier", ErrInvalidTable, table)
	}
	if dialect < Postgres || dialect > SQLite {
		return nil, fmt.Errorf("sqlstore: unknown dialect %d", int(dialect))
	}
	return newQueries(dialect, table).ddl, nil
}

func newQueries(d Dialect, table string) queries {
	t := quoteIdent(d, table)
	locks := quoteIdent(d, table+"_locks")
	p := func(n int) string {
		if d == Postgres {
			return fmt.Sprintf("$%d", n)
		}
		return "?"
	}
	q := queries{
		load:    "SELECT record FROM " + t + " WHERE key_hash = " + p(1),
		loadRev: "SELECT record, revision FROM " + t + " WHERE key_hash = " + p(1),
		insert: "INSERT INTO " + t + " (key_hash, store_key, record, expiry_ms, revision, updated_ms) VALUES (" +
			p(1) + ", " + p(2) + ", " + p(3) + ", " + p(4) + ", 1, " + p(5) + ")",
		update: "UPDATE " + t + " SET record = " + p(1) + ", expiry_ms = " + p(2) + ", updated_ms = " + p(3) +
			", revision = revision + 1 WHERE key_hash = " + p(4) + " AND revision = " + p(5),
		del:    "DELETE FROM " + t + " WHERE key_hash = " + p(1),
		keys:   "SELECT key_hash, store_key FROM " + t,
		probes: []string{"SELECT key_hash, store_key, record, expiry_ms, revision, updated_ms FROM " + t + " WHERE 1 = 0"},
	}
	switch d {
	case Postgres:
		q.ddl = []string{"CREATE TABLE IF NOT EXISTS " + t + ` (
	key_hash   bytea PRIMARY KEY,  -- SHA-256 of the key's bytes
	store_key  bytea NOT NULL,     -- the key itself (text cannot hold NUL)
	record     bytea NOT NULL,     -- versioned JSON record
	expiry_ms  bigint NOT NULL,    -- token expiry, Unix ms; 0: none
	revision   bigint NOT NULL,    -- compare-and-set counter
	updated_ms bigint NOT NULL     -- last save, Unix ms
)`}
		q.tryLock = "SELECT set_config('lock_timeout', $2, true), pg_advisory_lock($1)"
		q.unlock = "SELECT CASE WHEN pg_advisory_unlock($1) THEN 1 ELSE 0 END"
	case MySQL:
		q.ddl = []string{"CREATE TABLE IF NOT EXISTS " + t + ` (
	key_hash   BINARY(32) NOT NULL PRIMARY KEY, -- SHA-256 of the key's bytes
	store_key  MEDIUMBLOB NOT NULL,             -- the key itself (BLOB stops at 64 KiB)
	record     MEDIUMBLOB NOT NULL,             -- versioned JSON record
	expiry_ms  BIGINT NOT NULL,                 -- token expiry, Unix ms; 0: none
	revision   BIGINT NOT NULL,                 -- compare-and-set counter
	updated_ms BIGINT NOT NULL                  -- last save, Unix ms
) ENGINE=InnoDB`}
		q.tryLock = "SELECT GET_LOCK(?, ?)"
		q.unlock = "SELECT RELEASE_LOCK(?)"
	case SQLite:
		q.ddl = []string{"CREATE TABLE IF NOT EXISTS " + t + ` (
	key_hash   BLOB PRIMARY KEY NOT NULL, -- SHA-256 of the key's bytes
	store_key  BLOB NOT NULL,             -- the key itself
	record     BLOB NOT NULL,             -- versioned JSON record
	expiry_ms  INTEGER NOT NULL,          -- token expiry, Unix ms; 0: none
	revision   INTEGER NOT NULL,          -- compare-and-set counter
	updated_ms INTEGER NOT NULL           -- last save, Unix ms
)`, "CREATE TABLE IF NOT EXISTS " + locks + ` (
	key_hash   BLOB PRIMARY KEY NOT NULL, -- SHA-256 of the key's bytes
	owner      BLOB NOT NULL,             -- random, per Lock call
	expires_ms INTEGER NOT NULL           -- lease end, Unix ms
)`}
		q.probes = append(q.probes, "SELECT key_hash, owner, expires_ms FROM "+locks+" WHERE 1 = 0")
		q.tryLock = "INSERT INTO " + locks + " (key_hash, owner, expires_ms) VALUES (?, ?, ?) " +
			"ON CONFLICT (key_hash) DO UPDATE SET owner = excluded.owner, expires_ms = excluded.expires_ms " +
			"WHERE expires_ms <= ?"
		q.unlock = "DELETE FROM " + locks + " WHERE key_hash = ? AND owner = ?"
		q.keep = "UPDATE " + locks + " SET expires_ms = ? WHERE key_hash = ? AND owner = ?"
	}
	return q
}

// mysqlMaxBlob is what a MEDIUMBLOB holds. The record holds the key, so a
// record that fits means a key that fits.
const mysqlMaxBlob = 1<<24 - 1
