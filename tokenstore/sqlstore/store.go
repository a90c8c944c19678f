package tokenstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

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

// DefaultSQLTable is the table a SQL store uses unless WithTable says
// otherwise. SQLite's lock leases live in the table of the same name with
// the suffix "_locks".
const DefaultSQLTable = "ucoauth_tokens"

// ErrPoolTooSmall means a Postgres or MySQL store's *sql.DB allows only one
// open connection (SetMaxOpenConns(1)): a lock holds a connection for its
// lifetime, and the holder needs another to load and save.
var ErrPoolTooSmall error = permanent("tokenstore: sql pool too small for a lock and a save (SetMaxOpenConns below 2)")

// ErrInvalidTable means a table name that WithTable was given is not a
// plain identifier (see WithTable), or that the table is not usable.
var ErrInvalidTable error = permanent("tokenstore: invalid SQL table")

// SQL is a TokenStore, Locker and Lister on a SQL database: PostgreSQL,
// MySQL/MariaDB or SQLite, through any database/sql driver the caller
// opens (this package imports none). Create it with NewSQL; the zero value
// is not usable.
//
// # Table
//
// One row per key: the key's SHA-256 digest as the primary key (so that
// keys of any bytes and up to 4 KiB and more fit every engine's index), the
// key's exact bytes, the versioned JSON record written by Marshal (the same
// as the file and Redis stores), the token's expiry in Unix milliseconds
// (for operators' queries; 0 when it has none), a revision counter and the
// time of the last save.
//
// # Consistency
//
// Save is an optimistic compare-and-set: it reads the record and its
// revision, merges with Merge, and writes with an UPDATE that only matches
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
type SQL struct {
	db       *sql.DB
	dialect  Dialect
	table    string
	migrate  bool
	leaseTTL time.Duration
	q        sqlQueries
	lockID   string // the table as the server resolved it: see resolveLockID

	// gate counts the connections session locks hold (or wait on), so that
	// they always leave one to the pool: see enterGate.
	gateMu    sync.Mutex
	lockConns int
	gateFree  chan struct{} // closed when lockConns drops
}

var (
	_ ucoauth.TokenStore  = (*SQL)(nil)
	_ ucoauth.Locker      = (*SQL)(nil)
	_ ucoauth.LeaseLocker = (*SQL)(nil)
	_ ucoauth.Lister      = (*SQL)(nil)
)

// SQLOption configures a SQL store.
type SQLOption func(*SQL)

// WithTable sets the table's name: letters, digits and underscores, not
// starting with a digit, at most 57 characters (room for the "_locks"
// suffix in every engine's limit), optionally qualified by a schema or
// database name of the same form ("auth.tokens"). Anything else makes
// NewSQL fail with ErrInvalidTable. The default is DefaultSQLTable. The
// name is quoted as given (letter case matters on PostgreSQL). The refresh
// lock is derived from the table as the server resolves the name, so every
// spelling of one table ("T", "public.T") shares one lock; a name the
// server cannot resolve makes NewSQL fail with ErrInvalidTable.
func WithTable(name string) SQLOption { return func(s *SQL) { s.table = name } }

// WithExistingTable makes NewSQL use a table that your migrations created,
// instead of creating it if missing; NewSQL still checks that it has the
// columns the store needs. The DDL per dialect is in the README.
func WithExistingTable() SQLOption { return func(s *SQL) { s.migrate = false } }

// WithLeaseTTL sets how long a SQLite lock lease lives if its holder dies
// without releasing it; keep it above three times the TokenSource's
// refresh timeout (see DefaultLockTTL). Postgres and MySQL locks die with
// their connection and ignore it.
func WithLeaseTTL(d time.Duration) SQLOption {
	return func(s *SQL) {
		if d > 0 {
			s.leaseTTL = d
		}
	}
}

// NewSQL returns a store on db, which the caller opened with a driver for
// dialect and still owns (the store does not close it). It creates the
// table if it is missing (unless WithExistingTable) and checks it.
//
// For SQLite, open the file with a busy timeout and WAL, e.g. for
// modernc.org/sqlite "file:tokens.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)";
// the store also retries "database is locked" itself.
func NewSQL(ctx context.Context, db *sql.DB, dialect Dialect, opts ...SQLOption) (*SQL, error) {
	s := &SQL{db: db, dialect: dialect, table: DefaultSQLTable, migrate: true, leaseTTL: DefaultLockTTL}
	for _, o := range opts {
		o(s)
	}
	if db == nil {
		return nil, errors.New("tokenstore: NewSQL: nil *sql.DB")
	}
	if dialect < Postgres || dialect > SQLite {
		return nil, fmt.Errorf("tokenstore: NewSQL: unknown dialect %d", int(dialect))
	}
	if !validTable.MatchString(s.table) {
		return nil, fmt.Errorf("%w: %q is not a plain identifier (letters, digits, _; at most 57; optionally schema.table)", ErrInvalidTable, s.table)
	}
	s.q = newSQLQueries(dialect, s.table)
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

var validTable = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]{0,56}\.)?[A-Za-z_][A-Za-z0-9_]{0,56}$`)

func (s *SQL) createTables(ctx context.Context) error {
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
					return fmt.Errorf("tokenstore: sql: creating table %s: %w", s.table, ctx.Err())
				case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
				}
			}
			if err = s.retry(ctx, func() error { _, err := s.db.ExecContext(ctx, ddl); return err }); err == nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("tokenstore: sql: creating table %s: %w", s.table, err)
		}
	}
	return nil
}

func (s *SQL) tablesExist(ctx context.Context) bool {
	for _, probe := range s.q.probes {
		rows, err := s.db.QueryContext(ctx, probe)
		if err != nil {
			return false
		}
		rows.Close()
	}
	return true
}

// Table returns the table's name (as given to WithTable).
func (s *SQL) Table() string { return s.table }

// Dialect returns the store's dialect.
func (s *SQL) Dialect() Dialect { return s.dialect }

// keyHash is the primary key: a digest of the key's exact bytes.
func keyHash(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// Load returns the token for key, or an error matching ucoauth.ErrTokenNotFound.
func (s *SQL) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	if err := checkKey(key); err != nil {
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
	return Unmarshal(key, rec)
}

// Save stores tok atomically, unless a token that expires later is stored.
func (s *SQL) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if tok == nil || tok.AccessToken == "" {
		return ErrInvalidToken
	}
	h := keyHash(key)
	expiry := unixMilli(tok.Expiry)
	for range 64 { // optimistic: retry when another save slipped in
		var old []byte
		var rev int64
		err := s.retry(ctx, func() error { return s.db.QueryRowContext(ctx, s.q.loadRev, h).Scan(&old, &rev) })
		exists := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return s.wrap("save", err)
		}
		if !exists {
			old = nil
		}
		rec, err := encodeOverRaw(key, old, tok)
		if err != nil {
			return err
		}
		if s.dialect == MySQL && len(rec) > mysqlMaxBlob {
			// A lax sql_mode would cut it short without an error.
			return fmt.Errorf("%w: the record is %d bytes, more than a MySQL MEDIUMBLOB holds", ErrInvalidToken, len(rec))
		}
		now := time.Now().UnixMilli()
		if !exists {
			err := s.retry(ctx, func() error {
				_, err := s.db.ExecContext(ctx, s.q.insert, h, []byte(key), rec, expiry, now)
				return err
			})
			if err == nil {
				return nil
			}
			// Another save inserted the row first (and a delete may have
			// removed it again since): start over from the read. Any other
			// error is real, unless the row is there now.
			if uniqueViolation(err) {
				continue
			}
			var one int64
			if perr := s.retry(ctx, func() error { return s.db.QueryRowContext(ctx, s.q.loadRev, h).Scan(&old, &one) }); perr != nil {
				return s.wrap("save", withoutRecord(err, rec))
			}
			continue
		}
		var n int64
		err = s.retry(ctx, func() error {
			res, err := s.db.ExecContext(ctx, s.q.update, rec, expiry, now, h, rev)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return s.wrap("save", withoutRecord(err, rec))
		}
		if n == 1 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return s.wrap("save", err)
		}
	}
	return errors.New("tokenstore: sql: too much contention saving the token")
}

// mysqlMaxBlob is what a MEDIUMBLOB holds. The record holds the key, so a
// record that fits means a key that fits.
const mysqlMaxBlob = 1<<24 - 1

// Delete removes key's record.
func (s *SQL) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	err := s.retry(ctx, func() error { _, err := s.db.ExecContext(ctx, s.q.del, keyHash(key)); return err })
	if err != nil {
		return s.wrap("delete", err)
	}
	return nil
}

// Keys returns every key that holds a token. Tombstones are not listed,
// and those that expired are removed (see TombstoneRetention).
func (s *SQL) Keys(ctx context.Context) ([]string, error) {
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
				return fmt.Errorf("%w: a row's store_key (%d bytes) does not match its key_hash", ErrCorrupt, len(k))
			}
			switch token, gone := recordState(string(k), rec, time.Now()); {
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

// Lock takes key's refresh lock, shared by every process using the
// database; see the type's documentation for how, per dialect.
func (s *SQL) Lock(ctx context.Context, key string) (func(), error) {
	l, err := s.LockLease(ctx, key)
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// LockLease is Lock, returning the held lock, which Keep checks: for
// Postgres and MySQL, that the lock's own session still holds it; for
// SQLite, that the lease is still this holder's, extending it.
func (s *SQL) LockLease(ctx context.Context, key string) (ucoauth.Lease, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if s.dialect == SQLite {
		return s.leaseLock(ctx, key)
	}
	return s.sessionLock(ctx, key)
}

// lockName is the advisory lock's identity: the table as the server
// resolved it, and the key, digested.
func (s *SQL) lockName(key string) []byte {
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
			return fmt.Errorf("tokenstore: waiting for sql lock on %q: %w", key, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// sessionLock is the Postgres and MySQL lock: a session-level lock on a
// connection held until unlock.
func (s *SQL) sessionLock(ctx context.Context, key string) (ucoauth.Lease, error) {
	name := s.lockName(key)
	var arg any
	if s.dialect == Postgres {
		arg = int64(binary.BigEndian.Uint64(name[:8]))
	} else {
		arg = "ucoauth_" + hex.EncodeToString(name[:28]) // 64 characters, GET_LOCK's limit
	}
	if err := s.enterGate(ctx, key); err != nil {
		return nil, err
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		s.leaveGate()
		return nil, s.wrap("lock", err)
	}
	err = s.waitSessionLock(ctx, conn, key, arg)
	if err != nil {
		defer s.leaveGate() // after the connection is back or gone
	}
	if errors.Is(err, errLockWaitOver) {
		_ = conn.Close()
		cause := ctx.Err()
		if cause == nil {
			cause = context.DeadlineExceeded
		}
		return nil, fmt.Errorf("tokenstore: waiting for sql lock on %q: %w", key, cause)
	}
	if err != nil {
		// The lock may have been granted in an answer we did not read: a
		// connection that might hold it must not go back to the pool.
		discard(conn)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("tokenstore: waiting for sql lock on %q: %w", key, ctx.Err())
		}
		return nil, s.wrap("lock", err)
	}
	l := &sessionLease{s: s, conn: conn, arg: arg, ctx: context.WithoutCancel(ctx)}
	if err := l.immune(ctx); err != nil {
		// A lock whose session may be closed by an idle timeout while
		// the refresh token is out is not worth holding.
		l.lost = true
		l.Release()
		return nil, s.wrap("lock", err)
	}
	return l, nil
}

// sessionLease is a held Postgres or MySQL lock: its session, kept
// immune to the server's idle timeouts while it holds the lock.
type sessionLease struct {
	s       *SQL
	conn    *sql.Conn
	arg     any
	ctx     context.Context // the locker's, without its cancellation
	restore []string        // Postgres: setting names and their values before, in pairs
	once    sync.Once
	mu      sync.Mutex
	lost    bool // Keep found the session gone: closing it is all that is left
}

// immune keeps the server from closing the lock's session while it waits
// idle for the refresh: Postgres's idle_session_timeout and
// idle_in_transaction_session_timeout are turned off for the session, and
// MySQL's wait_timeout raised to a year, until the lock is released. A
// session closed for another reason (killed, failed over) loses the lock,
// which Keep sees.
func (l *sessionLease) immune(ctx context.Context) error {
	if l.s.dialect == MySQL {
		_, err := l.conn.ExecContext(ctx, "SET @ucoauth_wait_timeout = @@SESSION.wait_timeout, SESSION wait_timeout = 31536000")
		return err
	}
	// Only the settings this server has (idle_session_timeout: 14 and
	// later). pg_settings is read before set_config changes anything.
	rows, err := l.conn.QueryContext(ctx, "SELECT name, setting, set_config(name, '0', false) FROM pg_settings "+
		"WHERE name IN ('idle_session_timeout', 'idle_in_transaction_session_timeout')")
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name, old, void string
		if err := rows.Scan(&name, &old, &void); err != nil {
			return err
		}
		l.restore = append(l.restore, name, old)
	}
	return rows.Err()
}

// Keep checks, on the lock's own session, that this session holds the
// lock: Postgres's pg_locks, MySQL's IS_USED_LOCK against CONNECTION_ID.
// A session that cannot answer (closed, killed, unreachable) has lost it.
func (l *sessionLease) Keep(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost {
		return fmt.Errorf("tokenstore: sql %s: %w: its session is gone", l.s.dialect, ucoauth.ErrLockLost)
	}
	held, err := l.s.sessionHolds(ctx, l.conn, l.arg)
	switch {
	case err != nil:
		l.lost = true
		return fmt.Errorf("tokenstore: sql %s: %w: its session does not answer: %w", l.s.dialect, ucoauth.ErrLockLost, err)
	case !held:
		l.lost = true
		return fmt.Errorf("tokenstore: sql %s: %w: its session no longer holds it", l.s.dialect, ucoauth.ErrLockLost)
	}
	return nil
}

// sessionHolds reports whether conn's own session holds the lock arg
// names: Postgres's pg_locks for this backend, MySQL's IS_USED_LOCK against
// CONNECTION_ID.
func (s *SQL) sessionHolds(ctx context.Context, conn *sql.Conn, arg any) (held bool, err error) {
	if s.dialect == MySQL {
		err = conn.QueryRowContext(ctx, "SELECT COALESCE(IS_USED_LOCK(?) = CONNECTION_ID(), FALSE)", arg).Scan(&held)
		return held, err
	}
	k := uint64(arg.(int64))
	err = conn.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "+
		"AND pid = pg_backend_pid() AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1)",
		int64(k>>32), int64(k&0xffffffff)).Scan(&held)
	return held, err
}

// Release releases the lock and gives the session its settings back, or
// closes the session when either fails or the lock was lost.
func (l *sessionLease) Release() {
	l.once.Do(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		s, conn := l.s, l.conn
		defer s.leaveGate()
		if l.lost {
			discard(conn)
			return
		}
		// Detached: a cancelled caller must still release the lock.
		c, cancel := context.WithTimeout(l.ctx, 5*time.Second)
		defer cancel()
		var err error
		switch {
		case s.dialect == MySQL:
			_, err = conn.ExecContext(c, "SET SESSION wait_timeout = @ucoauth_wait_timeout")
		case len(l.restore) > 0:
			q, args := "SELECT ", []any{}
			for i := 0; i < len(l.restore); i += 2 {
				if i > 0 {
					q += ", "
				}
				args = append(args, l.restore[i], l.restore[i+1])
				q += fmt.Sprintf("set_config($%d, $%d, false)", i+1, i+2)
			}
			_, err = conn.ExecContext(c, q, args...)
		}
		var released sql.NullInt64
		if err != nil || conn.QueryRowContext(c, s.q.unlock, l.arg).Scan(&released) != nil || released.Int64 != 1 {
			discard(conn) // closing the session releases whatever it holds
			return
		}
		// Session locks count: a session that took the lock twice (see
		// tryLockFor) still holds it after one release, and must not go
		// back to the pool holding it, where it would block every other
		// holder for as long as the pool keeps the session.
		if still, err := s.sessionHolds(c, conn, l.arg); err != nil || still {
			discard(conn)
			return
		}
		_ = conn.Close()
	})
}

// enterGate waits until a session lock may take a connection: when the
// pool is limited (SetMaxOpenConns), locks hold at most all but one, so a
// holder always finds a connection to load and save with. Without it, as
// many refreshes at once as the pool has connections would each hold one
// and wait forever for another. Other users of the pool are not counted.
func (s *SQL) enterGate(ctx context.Context, key string) error {
	for {
		limit := s.db.Stats().MaxOpenConnections
		s.gateMu.Lock()
		if limit <= 0 || s.lockConns < limit-1 {
			s.lockConns++
			s.gateMu.Unlock()
			return nil
		}
		if limit == 1 {
			s.gateMu.Unlock()
			return fmt.Errorf("%w: lock on %q", ErrPoolTooSmall, key)
		}
		if s.gateFree == nil {
			s.gateFree = make(chan struct{})
		}
		free := s.gateFree
		s.gateMu.Unlock()
		t := time.NewTimer(100 * time.Millisecond) // the limit may be raised meanwhile
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("tokenstore: waiting for sql lock on %q: %w", key, ctx.Err())
		case <-free:
		case <-t.C:
		}
		t.Stop()
	}
}

// leaveGate gives back what enterGate took.
func (s *SQL) leaveGate() {
	s.gateMu.Lock()
	s.lockConns--
	if s.gateFree != nil {
		close(s.gateFree)
		s.gateFree = nil
	}
	s.gateMu.Unlock()
}

// lockSlice bounds one blocking wait for a session lock, so that a driver
// that cannot cancel a running query still notices the end of ctx.
const lockSlice = 500 * time.Millisecond

// waitSessionLock blocks on the server until conn holds the lock or ctx
// ends, in waits of at most lockSlice: the server hands the lock to the
// next waiter the moment it is released, with no polling delay.
func (s *SQL) waitSessionLock(ctx context.Context, conn *sql.Conn, key string, arg any) error {
	for {
		slice := lockSlice
		if dl, ok := ctx.Deadline(); ok {
			slice = min(slice, time.Until(dl))
		}
		if slice < time.Millisecond {
			// ctx is about to end, if it has not yet: not worth a wait.
			return errLockWaitOver
		}
		start := time.Now()
		ok, err := s.tryLockFor(ctx, conn, arg, slice)
		if err != nil || ok {
			return err
		}
		if ctx.Err() != nil {
			return errLockWaitOver
		}
		// A server that returned early (no fractional timeouts) is polled.
		if rest := slice - time.Since(start); rest > 0 {
			t := time.NewTimer(min(rest, 20*time.Millisecond))
			select {
			case <-ctx.Done():
				t.Stop()
				return errLockWaitOver
			case <-t.C:
			}
		}
	}
}

// errLockWaitOver means the caller's context ended between two waits,
// when the connection was known not to hold the lock.
var errLockWaitOver = errors.New("tokenstore: lock wait over")

// tryLockFor waits up to slice for the lock on conn.
func (s *SQL) tryLockFor(ctx context.Context, conn *sql.Conn, arg any, slice time.Duration) (bool, error) {
	if s.dialect == MySQL {
		var got sql.NullInt64
		err := conn.QueryRowContext(ctx, s.q.tryLock, arg, slice.Seconds()).Scan(&got)
		return got.Valid && got.Int64 == 1, err
	}
	// PostgreSQL: first one round trip for a free lock; then
	// pg_advisory_lock bounded by a lock_timeout local to the statement's
	// own transaction (set first: the target list is evaluated in order),
	// so the pooled session keeps its own settings. The lock itself is
	// session-level: it outlives the transaction.
	var free bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", arg).Scan(&free); err != nil || free {
		return free, err
	}
	var timeout string
	var void any
	err := conn.QueryRowContext(ctx, s.q.tryLock, arg, strconv.FormatInt(slice.Milliseconds(), 10)+"ms").Scan(&timeout, &void)
	if err != nil && pgLockTimeout(err) {
		// A lock granted as lock_timeout fires stays granted to the
		// session although the statement fails (PostgreSQL keeps a lock
		// it got while cleaning up a cancelled wait, and a session lock
		// outlives the statement). Taken for not granted, the next try
		// would take it a second time, and the release below free it
		// once: the session, back in the pool, would hold it for good.
		return s.sessionHolds(ctx, conn, arg)
	}
	return err == nil, err
}

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

// discard closes conn's session instead of returning it to the pool.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}

// leaseLock is the SQLite lock: a lease row with a random owner and an
// expiry, taken by an upsert that only overwrites an expired lease.
func (s *SQL) leaseLock(ctx context.Context, key string) (ucoauth.Lease, error) {
	h := keyHash(key)
	owner := []byte(newOwner())
	err := poll(ctx, key, func() (bool, error) {
		var n int64
		err := s.retry(ctx, func() error {
			now := time.Now()
			res, err := s.db.ExecContext(ctx, s.q.tryLock, h, owner, unixMilli(now.Add(s.leaseTTL)), now.UnixMilli())
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		return n == 1, err
	})
	if err != nil {
		// The upsert may have taken the lease in an answer we did not
		// read: the driver reports the end of ctx even for a statement
		// that ran to completion. Delete it if it is ours, or it would
		// stop every refresh of key until its TTL ran out.
		(&rowLease{s: s, h: h, owner: owner, ctx: context.WithoutCancel(ctx)}).Release()
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, s.wrap("lock", err)
	}
	return &rowLease{s: s, h: h, owner: owner, ctx: context.WithoutCancel(ctx)}, nil
}

// rowLease is a held SQLite lease.
type rowLease struct {
	s     *SQL
	h     []byte
	owner []byte
	ctx   context.Context // the locker's, without its cancellation
	once  sync.Once
}

// Keep extends the lease by the lease TTL if this holder still owns it:
// one whose lease expired but that nobody took since still does.
func (l *rowLease) Keep(ctx context.Context) error {
	var n int64
	err := l.s.retry(ctx, func() error {
		res, err := l.s.db.ExecContext(ctx, l.s.q.keep, unixMilli(time.Now().Add(l.s.leaseTTL)), l.h, l.owner)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	switch {
	case err != nil:
		return fmt.Errorf("tokenstore: sql %s: %w: cannot confirm the lease: %w", l.s.dialect, ucoauth.ErrLockLost, err)
	case n != 1:
		return fmt.Errorf("tokenstore: sql %s: %w: the lease expired and another holder took it", l.s.dialect, ucoauth.ErrLockLost)
	}
	return nil
}

// Release deletes the lease if it is still this holder's.
func (l *rowLease) Release() {
	l.once.Do(func() {
		c, cancel := context.WithTimeout(l.ctx, 5*time.Second)
		defer cancel()
		// Compare-and-delete: a holder whose lease expired cannot
		// release its successor's. If this fails, the lease expires.
		_ = l.s.retry(c, func() error { _, err := l.s.db.ExecContext(c, l.s.q.unlock, l.h, l.owner); return err })
	})
}

// retry runs op again while the database says it failed only because of
// another connection: SQLite's "database is locked" (another connection is
// writing), or a deadlock or serialization failure that rolled the
// statement back (InnoDB picks an INSERT or DELETE racing another on one key
// as a deadlock victim). It backs off until ctx ends or 30 s pass.
func (s *SQL) retry(ctx context.Context, op func() error) error {
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
func (s *SQL) transient(err error) bool {
	if s.dialect == SQLite {
		return sqliteBusy(err)
	}
	return rolledBack(err)
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

func (s *SQL) wrap(op string, err error) error {
	return fmt.Errorf("tokenstore: sql %s %s: %w", s.dialect, op, err)
}

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

// sqlQueries are a store's statements, for its dialect and table.
type sqlQueries struct {
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

// SQLSchema returns the statements NewSQL runs to create the store's
// tables for dialect, for teams that manage migrations themselves (see
// WithExistingTable). table is as for WithTable; "" means DefaultSQLTable.
func SQLSchema(dialect Dialect, table string) ([]string, error) {
	if table == "" {
		table = DefaultSQLTable
	}
	if !validTable.MatchString(table) {
		return nil, fmt.Errorf("%w: %q is not a plain identifier", ErrInvalidTable, table)
	}
	if dialect < Postgres || dialect > SQLite {
		return nil, fmt.Errorf("tokenstore: unknown dialect %d", int(dialect))
	}
	return newSQLQueries(dialect, table).ddl, nil
}

func newSQLQueries(d Dialect, table string) sqlQueries {
	t := quoteIdent(d, table)
	locks := quoteIdent(d, table+"_locks")
	p := func(n int) string {
		if d == Postgres {
			return fmt.Sprintf("$%d", n)
		}
		return "?"
	}
	q := sqlQueries{
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
	record     bytea NOT NULL,     -- versioned JSON, tokenstore.Marshal
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
	record     MEDIUMBLOB NOT NULL,             -- versioned JSON, tokenstore.Marshal
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
	record     BLOB NOT NULL,             -- versioned JSON, tokenstore.Marshal
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
func (s *SQL) resolveLockID(ctx context.Context) (string, error) {
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
