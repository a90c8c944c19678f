package sqlstore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ucoauth/go-ucoauth/internal/record"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// The refresh lock: session locks for PostgreSQL and MySQL, the lease
// (lease.go) for SQLite. Uses table.go and lease.go.

// Lock takes key's refresh lock, shared by every process using the
// database; see the type's documentation for how, per dialect.
func (s *Store) Lock(ctx context.Context, key string) (func(), error) {
	l, err := s.LockLease(ctx, key)
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// LockLease is Lock, returning the held lock, which Keep checks: for
// Postgres and MySQL, that the lock's own session still holds it; for
// SQLite, that the lease is still this holder's, extending it.
func (s *Store) LockLease(ctx context.Context, key string) (ucoauth.Lease, error) {
	if err := record.CheckKey(key); err != nil {
		return nil, err
	}
	if s.dialect == SQLite {
		return s.leaseLock(ctx, key)
	}
	return s.sessionLock(ctx, key)
}

// sessionLock is the Postgres and MySQL lock: a session-level lock on a
// connection held until unlock.
func (s *Store) sessionLock(ctx context.Context, key string) (ucoauth.Lease, error) {
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
		return nil, fmt.Errorf("sqlstore: waiting for sql lock on %q: %w", key, cause)
	}
	if err != nil {
		// The lock may have been granted in an answer we did not read: a
		// connection that might hold it must not go back to the pool.
		discard(conn)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("sqlstore: waiting for sql lock on %q: %w", key, ctx.Err())
		}
		return nil, s.wrap("lock", err)
	}
	if afterGrant != nil {
		afterGrant()
	}
	l := &sessionLease{s: s, conn: conn, arg: arg, ctx: context.WithoutCancel(ctx)}
	if err := l.immune(ctx); err != nil {
		// A lock whose session may be closed by an idle timeout while
		// the refresh token is out is not worth holding. The lock was
		// granted, so this is a lost lock (temporary: the retry path),
		// whether the session was killed meanwhile or the settings were
		// refused.
		l.lost = true
		l.Release()
		return nil, fmt.Errorf("sqlstore: %s lock: %w: its session failed as it was being kept: %w", s.dialect, ucoauth.ErrLockLost, err)
	}
	return l, nil
}

// afterGrant, when set (by tests only), runs between the grant of a
// session lock and the settings that keep its session: where a session
// killed at that moment was once reported as a plain store error, not as
// a lost lock.
var afterGrant func()

// sessionLease is a held Postgres or MySQL lock: its session, kept
// immune to the server's idle timeouts while it holds the lock.
type sessionLease struct {
	s       *Store
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
		return fmt.Errorf("sqlstore: %s: %w: its session is gone", l.s.dialect, ucoauth.ErrLockLost)
	}
	held, err := l.s.sessionHolds(ctx, l.conn, l.arg)
	switch {
	case err != nil:
		l.lost = true
		return fmt.Errorf("sqlstore: %s: %w: its session does not answer: %w", l.s.dialect, ucoauth.ErrLockLost, err)
	case !held:
		l.lost = true
		return fmt.Errorf("sqlstore: %s: %w: its session no longer holds it", l.s.dialect, ucoauth.ErrLockLost)
	}
	return nil
}

// sessionHolds reports whether conn's own session holds the lock arg
// names: Postgres's pg_locks for this backend, MySQL's IS_USED_LOCK against
// CONNECTION_ID.
func (s *Store) sessionHolds(ctx context.Context, conn *sql.Conn, arg any) (held bool, err error) {
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
func (s *Store) enterGate(ctx context.Context, key string) error {
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
			return fmt.Errorf("sqlstore: waiting for sql lock on %q: %w", key, ctx.Err())
		case <-free:
		case <-t.C:
		}
		t.Stop()
	}
}

// leaveGate gives back what enterGate took.
func (s *Store) leaveGate() {
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
func (s *Store) waitSessionLock(ctx context.Context, conn *sql.Conn, key string, arg any) error {
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
var errLockWaitOver = errors.New("sqlstore: lock wait over")

// tryLockFor waits up to slice for the lock on conn.
func (s *Store) tryLockFor(ctx context.Context, conn *sql.Conn, arg any, slice time.Duration) (bool, error) {
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
