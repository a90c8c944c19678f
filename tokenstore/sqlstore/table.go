package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ucoauth/go-ucoauth/internal/record"
)

// The store's state and what every operation shares: the table (created
// and resolved), retries and error wrapping. Uses schema.go and errors.go.

// Store is a TokenStore, Locker and Lister on a SQL database: PostgreSQL,
// MySQL/MariaDB or SQLite, through any database/sql driver the caller
// opens (this package imports none). Create it with New; the zero value
// is not usable.
//
// # Table
//
// One row per key: the key's SHA-256 digest as the primary key (so that
// keys of any bytes and up to 4 KiB and more fit every engine's index), the
// key's exact bytes, the versioned JSON record (the same
// as the file and Redis stores), the token's expiry in Unix milliseconds
// (for operators' queries; 0 when it has none), a revision counter and the
// time of the last save.
//
// # Consistency
//
// Save is an optimistic compare-and-set: it reads the record and its
// revision, merges as every store does, and writes with an UPDATE that only matches
// the revision it read (or an INSERT that fails if another save created
// the row first), retrying from the read when another save slipped in. So
// a record is never half-written, never replaced by one that expires
// earlier (ucoauth.ErrSuperseded), and keeps its refresh token when the
// new token has none, whichever process or *sql.DB saves.
//
// # The lock
//
//   - Postgres: a session advisory lock on a connection held for the lock's
//     lifetime, keyed by a 64-bit digest of the table (as the server
//     resolves it: see WithTable) and key. It dies with the session, so a
//     holder that dies or loses its connection releases it at once. A free lock costs one pg_try_advisory_lock; a waiter blocks in
//     pg_advisory_lock under a transaction-local lock_timeout of at most
//     500 ms, so the server hands it the lock the moment it is released and
//     a driver that cannot cancel a query still notices its context's end.
//   - MySQL: GET_LOCK(name, wait) on a held connection, named by a digest of
//     the resolved database and table and the key (names are limited to 64
//     characters), waiting at most 500 ms per call. It too dies with the
//     session.
//   - Both: while held, the lock's session is immune to the server's idle
//     timeouts (Postgres idle_session_timeout and
//     idle_in_transaction_session_timeout set to 0, MySQL wait_timeout to a
//     year; restored on release), and LockLease's Keep asks that session
//     whether it still holds the lock, so that a holder whose session was
//     killed or failed over knows before it presents a refresh token.
//   - SQLite: a lease row in the "_locks" table, with a random owner and an
//     expiry (WithLeaseTTL, default DefaultLockTTL), taken by one atomic
//     upsert that only overwrites an expired lease, and released by a
//     compare-and-delete. SQLite has no sessions that span processes, so a
//     dead holder's lease frees when it expires. Waiters poll, backing off
//     from 5 ms to 100 ms.
//
// Waiters give up when their context ends. A Postgres or MySQL lock holds
// one pooled connection until it is released (a waiter holds one while it
// waits on the server). With a pool limited by SetMaxOpenConns, Lock keeps
// one connection free of locks, so that the holders can still load and
// save: further Lock calls wait in the process for a lock to be released.
// A pool of one connection cannot hold a lock and save: Lock fails with
// ErrPoolTooSmall. A connection whose release failed, or
// that might hold a lock its waiter gave up on, is discarded, never
// returned to the pool.
type Store struct {
	db       *sql.DB
	dialect  Dialect
	table    string
	migrate  bool
	leaseTTL time.Duration
	q        queries
	lockID   string // the table as the server resolved it: see resolveLockID

	// gate counts the connections session locks hold (or wait on), so that
	// they always leave one to the pool: see enterGate.
	gateMu    sync.Mutex
	lockConns int
	gateFree  chan struct{} // closed when lockConns drops
}

// ErrPoolTooSmall means a Postgres or MySQL store's *sql.DB allows only one
// open connection (SetMaxOpenConns(1)): a lock holds a connection for its
// lifetime, and the holder needs another to load and save.
var ErrPoolTooSmall error = record.Permanent("sqlstore: pool too small for a lock and a save (SetMaxOpenConns below 2)")

// tableName returns the table's name (as given to WithTable).
func (s *Store) tableName() string { return s.table }

// keyHash is the primary key: a digest of the key's exact bytes.
func keyHash(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// retry runs op again while the database says it failed only because of
// another connection: SQLite's "database is locked" (another connection is
// writing), or a deadlock or serialization failure that rolled the
// statement back (InnoDB picks an INSERT or DELETE racing another on one key
// as a deadlock victim). It backs off until ctx ends or 30 s pass.
func (s *Store) retry(ctx context.Context, op func() error) error {
	err := op()
	if !s.transient(err) {
		return err
	}
	wait := time.Millisecond
	deadline := time.Now().Add(30 * time.Second)
	for s.transient(err) && time.Now().Before(deadline) {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, 50*time.Millisecond)
		err = op()
	}
	return err
}

// transient reports whether err is worth running the same statement again.
func (s *Store) transient(err error) bool {
	if s.dialect == SQLite {
		return sqliteBusy(err)
	}
	return rolledBack(err)
}

func (s *Store) wrap(op string, err error) error {
	return fmt.Errorf("sqlstore: %s %s: %w", s.dialect, op, err)
}

func (s *Store) createTables(ctx context.Context) error {
	for _, ddl := range s.q.ddl {
		var err error
		// Instances starting together: PostgreSQL's IF NOT EXISTS can still
		// fail all but one of them until the winner commits. Try again.
		for attempt := range 5 {
			if attempt > 0 {
				if s.tablesExist(ctx) {
					return nil
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("sqlstore: creating table %s: %w", s.table, ctx.Err())
				case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
				}
			}
			if err = s.retry(ctx, func() error { _, err := s.db.ExecContext(ctx, ddl); return err }); err == nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("sqlstore: creating table %s: %w", s.table, err)
		}
	}
	return nil
}

func (s *Store) tablesExist(ctx context.Context) bool {
	for _, probe := range s.q.probes {
		rows, err := s.db.QueryContext(ctx, probe)
		if err != nil {
			return false
		}
		rows.Close()
	}
	return true
}

// resolveLockID names the table as the server resolves it, so that every
// spelling of one table (WithTable("T") and WithTable("public.T") on
// PostgreSQL, with or without the database on MySQL, in any letter case
// MySQL folds) derives one lock, and two tables two locks:
//
//   - Postgres: the schema and name of the relation to_regclass finds for
//     the quoted name, on this connection's search_path (advisory locks are
//     per database); a table in the schema "public" is named alone, the
//     name earlier versions derived the lock from by default.
//   - MySQL: the database (given, or DATABASE()) and the table, lower-cased
//     when lower_case_table_names folds names; GET_LOCK names are per
//     server, so the database is always part of it.
//   - SQLite: unused: its lease lives in the table itself.
//
// A name the server cannot resolve fails with ErrInvalidTable.
func (s *Store) resolveLockID(ctx context.Context) (string, error) {
	var id string
	var err error
	switch s.dialect {
	case Postgres:
		var schema, rel string
		err = s.db.QueryRowContext(ctx, "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "+
			"WHERE c.oid = to_regclass($1)", quoteIdent(Postgres, s.table)).Scan(&schema, &rel)
		id = schema + "." + rel
		if schema == "public" {
			id = rel
		}
	case MySQL:
		var db sql.NullString
		var fold int64
		err = s.db.QueryRowContext(ctx, "SELECT DATABASE(), @@lower_case_table_names").Scan(&db, &fold)
		schema, table, qualified := strings.Cut(s.table, ".")
		if !qualified {
			schema, table = db.String, s.table
		}
		if err == nil && schema == "" {
			err = errors.New("no database selected")
		}
		id = schema + "." + table
		if fold != 0 {
			id = strings.ToLower(id)
		}
	default:
		return s.table, nil
	}
	if err != nil {
		return "", fmt.Errorf("%w: cannot resolve %s to one table for the lock: %w", ErrInvalidTable, s.table, err)
	}
	return id, nil
}

// lockName is the advisory lock's identity: the table as the server
// resolved it, and the key, digested.
func (s *Store) lockName(key string) []byte {
	sum := sha256.Sum256([]byte("ucoauth\x00" + s.lockID + "\x00" + key))
	return sum[:]
}

// poll calls try until it succeeds, fails, or ctx ends, backing off from
// 5 ms to 100 ms between tries (the SQLite lease).
func poll(ctx context.Context, key string, try func() (bool, error)) error {
	wait := 5 * time.Millisecond
	for {
		ok, err := try()
		if err != nil || ok {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("sqlstore: waiting for sql lock on %q: %w", key, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// discard closes conn's session instead of returning it to the pool.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}
