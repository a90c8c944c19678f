// Package sqlstore is a ucoauth.TokenStore on a SQL database: PostgreSQL,
// MySQL/MariaDB or SQLite, through any database/sql driver the caller opens
// (this package imports none). It is its own module, so that programs that
// do not use SQL do not depend on it.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ucoauth/go-ucoauth/internal/record"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// DefaultLockTTL bounds how long a dead holder keeps a SQLite lock lease
// (WithLeaseTTL). It must exceed the longest a refresh can hold the lock:
// the store read and the token request share a deadline of twice the
// TokenSource's refresh timeout, and the save has one more refresh
// timeout: 90 s with the default 30 s.
const DefaultLockTTL = record.DefaultLockTTL

var (
	_ ucoauth.TokenStore  = (*Store)(nil)
	_ ucoauth.Locker      = (*Store)(nil)
	_ ucoauth.LeaseLocker = (*Store)(nil)
	_ ucoauth.Lister      = (*Store)(nil)
)

// Option configures a SQL store.
type Option func(*Store)

// WithTable sets the table's name: letters, digits and underscores, not
// starting with a digit, at most 57 characters (room for the "_locks"
// suffix in every engine's limit), optionally qualified by a schema or
// database name of the same form ("auth.tokens"). Anything else makes
// New fail with ErrInvalidTable. The default is DefaultTable. The
// name is quoted as given (letter case matters on PostgreSQL). The refresh
// lock is derived from the table as the server resolves the name, so every
// spelling of one table ("T", "public.T") shares one lock; a name the
// server cannot resolve makes New fail with ErrInvalidTable.
func WithTable(name string) Option { return func(s *Store) { s.table = name } }

// WithExistingTable makes New use a table that your migrations created,
// instead of creating it if missing; New still checks that it has the
// columns the store needs. The DDL per dialect is in docs/sql.md.
func WithExistingTable() Option { return func(s *Store) { s.migrate = false } }

// WithLeaseTTL sets how long a SQLite lock lease lives if its holder dies
// without releasing it; keep it above three times the TokenSource's
// refresh timeout (see DefaultLockTTL). Postgres and MySQL locks die with
// their connection and ignore it.
func WithLeaseTTL(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.leaseTTL = d
		}
	}
}

// New returns a store on db, which the caller opened with a driver for
// dialect and still owns (the store does not close it). It creates the
// table if it is missing (unless WithExistingTable) and checks it.
//
// For SQLite, open the file with a busy timeout and WAL, e.g. for
// modernc.org/sqlite "file:tokens.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)";
// the store also retries "database is locked" itself.
func New(ctx context.Context, db *sql.DB, dialect Dialect, opts ...Option) (*Store, error) {
	s := &Store{db: db, dialect: dialect, table: DefaultTable, migrate: true, leaseTTL: record.DefaultLockTTL}
	for _, o := range opts {
		o(s)
	}
	if db == nil {
		return nil, errors.New("sqlstore: New: nil *sql.DB")
	}
	if dialect < Postgres || dialect > SQLite {
		return nil, fmt.Errorf("sqlstore: New: unknown dialect %d", int(dialect))
	}
	if !validTable.MatchString(s.table) {
		return nil, fmt.Errorf("%w: %q is not a plain identifier (letters, digits, _; at most 57; optionally schema.table)", ErrInvalidTable, s.table)
	}
	s.q = newQueries(dialect, s.table)
	if s.migrate {
		if err := s.createTables(ctx); err != nil {
			return nil, err
		}
	}
	for _, probe := range s.q.probes {
		if err := s.retry(ctx, func() error {
			rows, err := s.db.QueryContext(ctx, probe)
			if err != nil {
				return err
			}
			return rows.Close()
		}); err != nil {
			return nil, fmt.Errorf("%w: %s lacks the store's columns or cannot be read: %w", ErrInvalidTable, s.table, err)
		}
	}
	id, err := s.resolveLockID(ctx)
	if err != nil {
		return nil, err
	}
	s.lockID = id
	return s, nil
}

// Load returns the token for key, or an error matching ucoauth.ErrTokenNotFound.
func (s *Store) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	if err := record.CheckKey(key); err != nil {
		return nil, err
	}
	var rec []byte
	err := s.retry(ctx, func() error {
		return s.db.QueryRowContext(ctx, s.q.load, keyHash(key)).Scan(&rec)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ucoauth.ErrTokenNotFound
	}
	if err != nil {
		return nil, s.wrap("load", err)
	}
	return record.Unmarshal(key, rec)
}

// Save stores tok atomically, unless a token that expires later is stored.
func (s *Store) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	if err := record.CheckKey(key); err != nil {
		return err
	}
	if tok == nil || tok.AccessToken == "" {
		return record.ErrInvalidToken
	}
	return s.compareAndSet(ctx, "save", key, unixMilli(tok.Expiry), func(old []byte) ([]byte, error) {
		return record.EncodeOverRaw(key, old, tok)
	})
}

// Delete removes key's record.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := record.CheckKey(key); err != nil {
		return err
	}
	err := s.retry(ctx, func() error { _, err := s.db.ExecContext(ctx, s.q.del, keyHash(key)); return err })
	if err != nil {
		return s.wrap("delete", err)
	}
	return nil
}

// Keys returns every key that holds a token. Tombstones are not listed,
// and those that expired are removed (see tokenstore.TombstoneRetention).
func (s *Store) Keys(ctx context.Context) ([]string, error) {
	var keys []string
	var expired []expiredRow
	err := s.retry(ctx, func() error {
		keys, expired = keys[:0], expired[:0]
		rows, err := s.db.QueryContext(ctx, s.keysQuery())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h, k, rec []byte
			var rev int64
			if err := rows.Scan(&h, &k, &rec, &rev); err != nil {
				return err
			}
			// A key cut short (a lax MySQL truncates what does not fit
			// its column) or edited by hand would list a key that loads
			// nothing, and Reseal would skip its record in silence.
			if string(h) != string(keyHash(string(k))) {
				return fmt.Errorf("%w: a row's store_key (%d bytes) does not match its key_hash", record.ErrCorrupt, len(k))
			}
			switch token, gone := record.State(string(k), rec, time.Now()); {
			case token:
				keys = append(keys, string(k))
			case gone:
				expired = append(expired, expiredRow{h, rev})
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, s.wrap("keys", err)
	}
	if err := s.prune(ctx, expired); err != nil {
		return nil, s.wrap("keys", err)
	}
	return keys, nil
}
