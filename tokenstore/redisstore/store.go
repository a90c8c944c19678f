// Package redisstore is a ucoauth.TokenStore on Redis, for a fleet of
// processes that share merchants: a single node, Sentinel or Cluster. It
// is its own module, so that programs that do not use Redis do not depend
// on go-redis.
package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ucoauth/go-ucoauth/internal/record"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// Defaults of the Redis store.
const (
	// DefaultKeyPrefix starts every Redis key the store uses (WithKeyPrefix).
	DefaultKeyPrefix = "ucoauth:"
	// DefaultLockTTL bounds how long a dead holder can keep a refresh lock.
	// It must exceed the longest a refresh can hold it: the store read and
	// the token request share a deadline of twice the TokenSource's refresh
	// timeout, and the save has one more refresh timeout: 90 s with the
	// default 30 s.
	DefaultLockTTL = record.DefaultLockTTL
	// DefaultReplicaAckTimeout is how long a save or a lock waits for a
	// replica to acknowledge it (WAIT) when the master has replicas.
	// Replication normally takes well under a millisecond; a replica that
	// stays behind this long is treated as absent for that save.
	DefaultReplicaAckTimeout = time.Second
)

// Errors of the Redis store. Both are temporary: the TokenSource keeps the
// token in memory, serves it, and saves it again later.
var (
	// ErrUnconfirmed means Redis did not confirm that a save or a lock
	// attempt ran, so nothing may have been written. It happens while a
	// Cluster slot moves: the client can report success for a transaction
	// it never sent (see Store).
	ErrUnconfirmed error = temporary("redisstore: the write was not confirmed (cluster slot moving?)")
	// ErrNotReplicated means the master wrote the record or lock but too few
	// replicas acknowledged it in time, so a failover could lose it.
	ErrNotReplicated error = temporary("redisstore: too few replicas acknowledged the write")
)

// temporary is an error that says retrying may help.
type temporary string

func (t temporary) Error() string { return string(t) }

func (temporary) Temporary() bool { return true }

// Store is a TokenStore, Locker and Lister on Redis, for a fleet of
// processes that share merchants. Create it with New; the zero value is
// not usable. It takes a redis.UniversalClient, so a single node, Sentinel
// (redis.NewFailoverClient) and Cluster all work.
//
// # Key layout
//
// For store key K and prefix P (default "ucoauth:"):
//
//	P{K}:token   the versioned JSON record every store keeps, with an optional TTL
//	P{K}:lock    the refresh lock: a random owner value, with a PX expiry
//	P{K}:unlock  the pub/sub channel a lock holder publishes to on release
//
// The braces are a Cluster hash tag, so one merchant's keys share a slot. A
// key that contains a brace, or starts with "#", is replaced inside the
// braces by "#" and a hex SHA-256 digest of it, so that the tag stays
// intact. Keep braces out of the prefix.
//
// # Consistency
//
// Save is a WATCH/MULTI transaction on one key: it never writes half a
// record, never replaces a token with one that expires earlier
// (ucoauth.ErrSuperseded), and keeps the stored refresh token when the new
// token has none. A refresh that finishes late cannot clobber a fresher
// token that another instance saved. Save returns nil only when it saw the
// reply of its own SET inside EXEC: during a Cluster slot move, go-redis
// v9's ClusterClient.Watch can return nil without running the transaction,
// and Save then returns ErrUnconfirmed instead.
//
// # Replicas and failover
//
// Replication is asynchronous, so a write acknowledged by a master can
// vanish when a replica is promoted. Once a master has been seen with
// replicas (INFO replication, read at every save and lock), Save and Lock
// wait after writing until one replica has acknowledged (WAIT), and return
// ErrNotReplicated when none does within DefaultReplicaAckTimeout; see
// WithReplicaAcks. A master is known by its replication ID, so a promoted
// replica is a new master: it does not wait until replicas connect to it,
// while an old master that lost its replicas never acknowledges again. This
// narrows, but cannot close, the window in which a failover loses data:
// Redis is not a consensus system.
//
// # The lock
//
// Lock is SET NX PX with a random owner value; unlock deletes the key only
// if the owner is still ours (a Lua compare-and-delete), so a holder whose
// lock expired cannot release a successor's. A lock key without a TTL (left
// by hand or another tool) is given the lock TTL, so it cannot block
// forever. Waiters do not spin: they subscribe to the unlock channel and
// retry when the holder publishes, with a backoff poll (10 ms doubling to
// 250 ms) in case a message is lost, and poll alone when an ACL forbids the
// channel. A failed unlock is retried a few times, then logged (see
// WithLogger); the lock then expires by its TTL.
//
// # Outages
//
// When Redis is unreachable, every method returns an error and nothing is
// written. A TokenSource keeps serving its cached token while it is valid and
// does not refresh without the lock; see ucoauth.TokenSource.
type Store struct {
	c       redis.UniversalClient
	prefix  string
	ttl     time.Duration
	lockTTL time.Duration
	log     *slog.Logger

	acks       int // replicas to wait for; autoAcks: 1 when the master has any
	ackTimeout time.Duration

	mu       sync.Mutex
	replicas map[string]replicaCount // by node and replication ID, for autoAcks
}

const (
	autoAcks = -1
	// maxMasters bounds the masters the store remembers having seen with
	// replicas; each failover makes one more.
	maxMasters = 64
)

type replicaCount struct {
	n  int
	at time.Time
}

var (
	_ ucoauth.TokenStore  = (*Store)(nil)
	_ ucoauth.Locker      = (*Store)(nil)
	_ ucoauth.LeaseLocker = (*Store)(nil)
	_ ucoauth.Lister      = (*Store)(nil)
	_ ucoauth.Tombstoner  = (*Store)(nil)
)

// Option configures a Redis store.
type Option func(*Store)

// WithKeyPrefix sets the prefix of every Redis key the store uses.
func WithKeyPrefix(p string) Option { return func(r *Store) { r.prefix = p } }

// WithRecordTTL makes records expire d after their last save, so merchants
// whose grant died age out. Choose d slightly longer than a refresh token
// stays usable: a record is saved at every refresh, so a live merchant's
// record never expires. UltraCart does not document refresh-token
// lifetimes; zero, the default, keeps records forever.
func WithRecordTTL(d time.Duration) Option { return func(r *Store) { r.ttl = max(d, 0) } }

// WithLockTTL sets how long a refresh lock lives if its holder dies without
// releasing it. Keep it above three times the TokenSource's refresh timeout
// (see DefaultLockTTL).
func WithLockTTL(d time.Duration) Option {
	return func(r *Store) {
		if d > 0 {
			r.lockTTL = d
		}
	}
}

// WithReplicaAcks makes every save and lock wait until n replicas have
// acknowledged it, for at most timeout (DefaultReplicaAckTimeout if not
// positive), and fail with ErrNotReplicated otherwise. n = 0 never waits.
// Without this option the store waits for one replica on every master that
// it has ever seen with connected replicas, and does not wait on a master
// that never had any (or whose INFO the ACL user may not read: set n
// explicitly then). A master that lost its only replica for good (not by a
// failover, which makes a new master) then fails every save until the
// replica is back or n is set to 0.
func WithReplicaAcks(n int, timeout time.Duration) Option {
	return func(r *Store) {
		r.acks = max(n, 0)
		if timeout > 0 {
			r.ackTimeout = timeout
		}
	}
}

// WithLogger sets where the store reports problems it cannot return, such
// as a lock it could not release. The default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(r *Store) {
		if l != nil {
			r.log = l
		}
	}
}

// New returns a store on client. The client is not closed by the store.
func New(client redis.UniversalClient, opts ...Option) *Store {
	r := &Store{c: client, prefix: DefaultKeyPrefix, lockTTL: DefaultLockTTL,
		acks: autoAcks, ackTimeout: DefaultReplicaAckTimeout, replicas: map[string]replicaCount{}}
	for _, o := range opts {
		o(r)
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	return r
}

func (r *Store) key(k, kind string) string { return r.prefix + "{" + hashTag(k) + "}:" + kind }

// hashTag is the key itself when it can serve as a Cluster hash tag, and
// "#" and a digest of it when braces (or a leading "#") would break the tag.
func hashTag(k string) string {
	if !strings.ContainsAny(k, "{}") && !strings.HasPrefix(k, "#") {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "#" + hex.EncodeToString(sum[:16])
}

// Load returns the token for key, or an error matching ucoauth.ErrTokenNotFound.
func (r *Store) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	if err := record.CheckKey(key); err != nil {
		return nil, err
	}
	b, err := r.c.Get(ctx, r.key(key, "token")).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ucoauth.ErrTokenNotFound
	}
	if isWrongType(err) {
		return nil, errWrongType
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	return record.Unmarshal(key, b)
}

// Delete removes key's record.
func (r *Store) Delete(ctx context.Context, key string) error {
	if err := record.CheckKey(key); err != nil {
		return err
	}
	if err := r.c.Del(ctx, r.key(key, "token")).Err(); err != nil {
		return fmt.Errorf("redisstore: %w", err)
	}
	return nil
}

// Keys returns every key that holds a token. Keys may be stored as digests,
// so each record is read for the key it names; a record that cannot be read
// is an error matching record.ErrCorrupt. A Cluster is scanned on every master.
func (r *Store) Keys(ctx context.Context) ([]string, error) {
	pattern := globEscape(r.prefix) + "{*}:token"
	var mu sync.Mutex
	found := map[string]struct{}{}
	scan := func(ctx context.Context, c redis.Cmdable) error {
		it := c.Scan(ctx, 0, pattern, 500).Iterator()
		for it.Next(ctx) {
			mu.Lock()
			found[it.Val()] = struct{}{}
			mu.Unlock()
		}
		return it.Err()
	}
	var err error
	if cc, ok := r.c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, r.c)
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: scanning: %w", err)
	}
	names := make([]string, 0, len(found))
	for n := range found {
		names = append(names, n)
	}
	keys := make([]string, 0, len(names))
	const batch = 256
	for len(names) > 0 {
		part := names[:min(batch, len(names))]
		names = names[len(part):]
		cmds, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, n := range part {
				p.Get(ctx, n)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) && !isWrongType(err) {
			return nil, fmt.Errorf("redisstore: %w", err)
		}
		for i, c := range cmds {
			b, err := c.(*redis.StringCmd).Bytes()
			if errors.Is(err, redis.Nil) {
				continue // deleted meanwhile
			}
			if isWrongType(err) {
				return nil, fmt.Errorf("%w (redis key %q)", errWrongType, part[i])
			}
			if err != nil {
				return nil, fmt.Errorf("redisstore: %w", err)
			}
			key, err := record.Key(b)
			if err != nil {
				return nil, fmt.Errorf("%w (redis key %q)", err, part[i])
			}
			if token, _ := record.State(key, b, time.Now()); token && r.key(key, "token") == part[i] {
				keys = append(keys, key) // a tombstone is not listed; it expires by its TTL
			}
		}
	}
	return keys, nil
}

// globEscape quotes the characters SCAN MATCH treats as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// errWrongType is a token key that holds a hash, list or other non-string,
// written by another tool: a record that cannot be read, which a real
// token replaces.
var errWrongType = fmt.Errorf("%w: the Redis key holds another type than a string", record.ErrCorrupt)

// isWrongType reports a command run on a key of another type.
func isWrongType(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "WRONGTYPE") }

// isNoPerm reports an ACL refusal.
func isNoPerm(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOPERM") }
