package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ucoauth/go-ucoauth/internal/record"
	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// SQLite's lock: a lease row. Uses table.go.

// leaseLock is the SQLite lock: a lease row with a random owner and an
// expiry, taken by an upsert that only overwrites an expired lease.
func (s *Store) leaseLock(ctx context.Context, key string) (ucoauth.Lease, error) {
	h := keyHash(key)
	owner := []byte(record.NewOwner())
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
	s     *Store
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
		return fmt.Errorf("sqlstore: %s: %w: cannot confirm the lease: %w", l.s.dialect, ucoauth.ErrLockLost, err)
	case n != 1:
		return fmt.Errorf("sqlstore: %s: %w: the lease expired and another holder took it", l.s.dialect, ucoauth.ErrLockLost)
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
