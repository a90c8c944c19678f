package tokenstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// Defaults of the Redis store.
const (
	DefaultRedisPrefix = "ucoauth:"
	// DefaultLockTTL bounds how long a dead holder can keep a refresh lock.
	// It must exceed the longest a refresh can hold it: the store read and
	// the token request share a deadline of twice the TokenSource's refresh
	// timeout, and the save has one more refresh timeout: 90 s with the
	// default 30 s.
	DefaultLockTTL = 100 * time.Second
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
	// it never sent (see Redis).
	ErrUnconfirmed error = temporary("tokenstore: redis: the write was not confirmed (cluster slot moving?)")
	// ErrNotReplicated means the master wrote the record or lock but too few
	// replicas acknowledged it in time, so a failover could lose it.
	ErrNotReplicated error = temporary("tokenstore: redis: too few replicas acknowledged the write")
)

// temporary is an error that says retrying may help.
type temporary string

func (t temporary) Error() string { return string(t) }

func (temporary) Temporary() bool { return true }

// Redis is a TokenStore, Locker and Lister on Redis, for a fleet of
// processes that share merchants. Create it with NewRedis; the zero value is
// not usable. It takes a redis.UniversalClient, so a single node, Sentinel
// (redis.NewFailoverClient) and Cluster all work.
//
// # Key layout
//
// For store key K and prefix P (default "ucoauth:"):
//
//	P{K}:token   the versioned JSON record (see Marshal), with an optional TTL
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
type Redis struct {
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
	_ ucoauth.TokenStore  = (*Redis)(nil)
	_ ucoauth.Locker      = (*Redis)(nil)
	_ ucoauth.LeaseLocker = (*Redis)(nil)
	_ ucoauth.Lister      = (*Redis)(nil)
	_ ucoauth.Tombstoner  = (*Redis)(nil)
)

// RedisOption configures a Redis store.
type RedisOption func(*Redis)

// WithKeyPrefix sets the prefix of every Redis key the store uses.
func WithKeyPrefix(p string) RedisOption { return func(r *Redis) { r.prefix = p } }

// WithRecordTTL makes records expire d after their last save, so merchants
// whose grant died age out. Choose d slightly longer than a refresh token
// stays usable: a record is saved at every refresh, so a live merchant's
// record never expires. UltraCart does not document refresh-token
// lifetimes; zero, the default, keeps records forever.
func WithRecordTTL(d time.Duration) RedisOption { return func(r *Redis) { r.ttl = max(d, 0) } }

// WithLockTTL sets how long a refresh lock lives if its holder dies without
// releasing it. Keep it above three times the TokenSource's refresh timeout
// (see DefaultLockTTL).
func WithLockTTL(d time.Duration) RedisOption {
	return func(r *Redis) {
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
func WithReplicaAcks(n int, timeout time.Duration) RedisOption {
	return func(r *Redis) {
		r.acks = max(n, 0)
		if timeout > 0 {
			r.ackTimeout = timeout
		}
	}
}

// WithLogger sets where the store reports problems it cannot return, such
// as a lock it could not release. The default is slog.Default().
func WithLogger(l *slog.Logger) RedisOption {
	return func(r *Redis) {
		if l != nil {
			r.log = l
		}
	}
}

// NewRedis returns a store on client. The client is not closed by the store.
func NewRedis(client redis.UniversalClient, opts ...RedisOption) *Redis {
	r := &Redis{c: client, prefix: DefaultRedisPrefix, lockTTL: DefaultLockTTL,
		acks: autoAcks, ackTimeout: DefaultReplicaAckTimeout, replicas: map[string]replicaCount{}}
	for _, o := range opts {
		o(r)
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	return r
}

func (r *Redis) key(k, kind string) string { return r.prefix + "{" + hashTag(k) + "}:" + kind }

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
func (r *Redis) Load(ctx context.Context, key string) (*oauth2.Token, error) {
	if err := checkKey(key); err != nil {
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
		return nil, fmt.Errorf("tokenstore: redis: %w", err)
	}
	return Unmarshal(key, b)
}

// Save stores tok atomically, unless a token that expires later is stored.
func (r *Redis) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	if err := checkKey(key); err != nil {
		return err
	}
	rk := r.key(key, "token")
	pause := 5 * time.Millisecond
	for range 16 { // optimistic: retry when another save slipped in
		ran := false
		err := r.c.Watch(ctx, func(tx *redis.Tx) error {
			b, err := tx.Get(ctx, rk).Bytes()
			switch {
			case errors.Is(err, redis.Nil), isWrongType(err):
				b = nil // nothing, or not a record at all: tok replaces it
			case err != nil:
				return err
			}
			nb, err := encodeOverRaw(key, b, tok)
			if err != nil {
				return err
			}
			var set *redis.StatusCmd
			if _, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				set = p.Set(ctx, rk, nb, r.ttl)
				return nil
			}); err != nil {
				return err
			}
			// Trust only the reply to our own SET inside EXEC: go-redis's
			// ClusterClient.Watch can return nil without calling us.
			if set.Val() != "OK" {
				return ErrUnconfirmed
			}
			ran = true
			return r.awaitReplicas(ctx, tx)
		}, rk)
		switch {
		case err == nil && ran:
			return nil
		case err == nil, errors.Is(err, redis.TxFailedErr), errors.Is(err, ErrUnconfirmed):
			// Not run (a slot on the move) or raced by another save: again.
			err = ErrUnconfirmed
		case errors.Is(err, ucoauth.ErrSuperseded), errors.Is(err, ErrInvalidToken), errors.Is(err, ErrNewerFormat),
			errors.Is(err, ErrInvalidKey), errors.Is(err, ErrNotReplicated), errors.Is(err, ucoauth.ErrRevoked):
			return err
		default:
			return fmt.Errorf("tokenstore: redis: %w", err)
		}
		if !sleep(ctx, pause) {
			return fmt.Errorf("%w: %w", err, ctx.Err())
		}
		pause = min(2*pause, 100*time.Millisecond)
	}
	return fmt.Errorf("%w: too much contention, or the slot kept moving", ErrUnconfirmed)
}

// awaitReplicas waits, on tx's connection right after its write, until
// enough replicas acknowledged the write.
func (r *Redis) awaitReplicas(ctx context.Context, tx *redis.Tx) error {
	n := r.acks
	if n == autoAcks {
		c, err := r.replicaCount(ctx, tx)
		if err != nil {
			return fmt.Errorf("%w: INFO: %w", ErrNotReplicated, err)
		}
		n = min(c, 1)
	}
	if n == 0 {
		return nil
	}
	got, err := tx.Wait(ctx, n, r.ackTimeout).Result()
	if err != nil {
		return fmt.Errorf("%w: WAIT: %w", ErrNotReplicated, err)
	}
	if got < int64(n) {
		return fmt.Errorf("%w: %d of %d in %s", ErrNotReplicated, got, n, r.ackTimeout)
	}
	return nil
}

// replicaCount is how many replicas tx's master has, from INFO replication,
// read at every write (a save or a lock: once per refresh). It is sticky
// per master: one once seen with replicas keeps counting them, so that an
// old master that lost its replica to a failover (and will lose its writes
// when it rejoins as a replica) cannot acknowledge anything. A master is
// its node and its replication ID: a promoted replica starts a new ID, so
// it waits only once replicas connect to it, like any master never seen
// with replicas. The node alone cannot tell masters apart: behind a
// Sentinel every master is the same "FailoverClient". A node whose INFO
// cannot be read counts as having none; a write whose context ended first
// is not acknowledged.
func (r *Redis) replicaCount(ctx context.Context, tx *redis.Tx) (int, error) {
	node := tx.String() // names the node's address, or "FailoverClient"
	info, err := tx.Info(ctx, "replication").Result()
	if err != nil && ctx.Err() != nil {
		return 0, err // not the node's fault, and the write is not confirmed durable
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		if _, warned := r.replicas[node]; !warned {
			r.replicas[node] = replicaCount{}
			r.log.Warn("tokenstore: redis: cannot read INFO replication; not waiting for replicas (see WithReplicaAcks)", "node", node, "err", err)
		}
		return 0, nil
	}
	id := node + " " + infoField(info, "master_replid")
	c := replicaCount{n: max(connectedReplicas(info), r.replicas[id].n), at: time.Now()}
	r.replicas[id] = c
	if len(r.replicas) > maxMasters { // failovers add masters: forget the stalest
		oldest := ""
		for k, v := range r.replicas {
			if oldest == "" || v.at.Before(r.replicas[oldest].at) {
				oldest = k
			}
		}
		delete(r.replicas, oldest)
	}
	return c.n, nil
}

// infoField reads one field of an INFO answer.
func infoField(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// connectedReplicas reads connected_slaves from INFO replication.
func connectedReplicas(info string) int {
	n, _ := strconv.Atoi(infoField(info, "connected_slaves"))
	return max(n, 0)
}

// Delete removes key's record.
func (r *Redis) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := r.c.Del(ctx, r.key(key, "token")).Err(); err != nil {
		return fmt.Errorf("tokenstore: redis: %w", err)
	}
	return nil
}

// Keys returns every key that holds a token. Keys may be stored as digests,
// so each record is read for the key it names; a record that cannot be read
// is an error matching ErrCorrupt. A Cluster is scanned on every master.
func (r *Redis) Keys(ctx context.Context) ([]string, error) {
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
		return nil, fmt.Errorf("tokenstore: redis: scanning: %w", err)
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
			return nil, fmt.Errorf("tokenstore: redis: %w", err)
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
				return nil, fmt.Errorf("tokenstore: redis: %w", err)
			}
			key, err := recordKey(b)
			if err != nil {
				return nil, fmt.Errorf("%w (redis key %q)", err, part[i])
			}
			if token, _ := recordState(key, b, time.Now()); token && r.key(key, "token") == part[i] {
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

// lockScript takes the lock, or gives a lock key that has no TTL the lock
// TTL: a key written by hand or another tool must not block forever.
var lockScript = redis.NewScript(`
if redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then
	return 1
end
if redis.call("PTTL", KEYS[1]) == -1 then
	redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)

// unlockScript deletes the lock only if we still own it, and tells waiters.
// The channel is an argument, not a key: in a Cluster a channel has no slot,
// and naming it as a key fails while the lock's slot moves. Waiters that
// may not subscribe poll, so a refused PUBLISH is not an error.
var unlockScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	redis.call("DEL", KEYS[1])
	redis.pcall("PUBLISH", ARGV[2], "1") -- an ACL may forbid the channel
	return 1
end
return 0`)

// Lock takes key's refresh lock, shared by every process using the Redis.
func (r *Redis) Lock(ctx context.Context, key string) (func(), error) {
	l, err := r.LockLease(ctx, key)
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// LockLease is Lock, returning the held lock. Keep checks that the lock
// key still holds this holder's owner value and gives it the lock TTL
// again, in one script.
func (r *Redis) LockLease(ctx context.Context, key string) (ucoauth.Lease, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	lk, ch := r.key(key, "lock"), r.key(key, "unlock")
	owner := newOwner()
	unlock := func() {
		// Detached: a cancelled caller must still release the lock.
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		r.release(c, key, lk, ch, owner)
	}

	ok, err := r.tryLock(ctx, lk, owner, unlock)
	if err != nil && !errors.Is(err, ErrUnconfirmed) { // a moving slot: wait it out
		return nil, fmt.Errorf("tokenstore: redis lock: %w", err)
	}
	if !ok {
		// Subscribe before retrying, so a release between the two is seen.
		var msgs <-chan *redis.Message
		sub := r.c.Subscribe(ctx, ch)
		defer sub.Close()
		if _, err := sub.Receive(ctx); err == nil {
			msgs = sub.Channel()
		} else if !isNoPerm(err) {
			return nil, fmt.Errorf("tokenstore: redis lock: subscribing: %w", err)
		} // else the ACL forbids the channel: poll alone
		wait := 10 * time.Millisecond
		for {
			if ok, err = r.tryLock(ctx, lk, owner, unlock); err != nil && !errors.Is(err, ErrUnconfirmed) {
				return nil, fmt.Errorf("tokenstore: redis lock: %w", err)
			} else if ok {
				break
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				if err != nil {
					return nil, fmt.Errorf("tokenstore: waiting for redis lock on %q: %w (last: %w)", key, ctx.Err(), err)
				}
				return nil, fmt.Errorf("tokenstore: waiting for redis lock on %q: %w", key, ctx.Err())
			case _, open := <-msgs:
				if !open {
					msgs = nil // the subscription broke: poll alone
				}
			case <-t.C:
				wait = min(2*wait, 250*time.Millisecond)
			}
			t.Stop()
		}
	}
	return &redisLease{r: r, lk: lk, owner: owner, release: unlock}, nil
}

// tryLock makes one attempt at the lock. A lock that too few replicas
// acknowledged is released again and reported, since a failover would lose
// it.
func (r *Redis) tryLock(ctx context.Context, lk, owner string, unlock func()) (bool, error) {
	got, ran := false, false
	err := r.c.Watch(ctx, func(tx *redis.Tx) error { // Watch only to pin one connection to lk's master
		n, err := lockScript.Run(ctx, tx, []string{lk}, owner, r.lockTTL.Milliseconds()).Int()
		if err != nil {
			return err
		}
		ran, got = true, n == 1
		if got {
			return r.awaitReplicas(ctx, tx)
		}
		return nil
	}, lk)
	switch {
	case err != nil && got:
		unlock()
		return false, err
	case err != nil:
		return false, err
	case !ran:
		return false, ErrUnconfirmed
	}
	return got, nil
}

// release runs the unlock script, retrying with backoff while ctx allows,
// and logs a lock it could not release: it then lives until its TTL.
func (r *Redis) release(ctx context.Context, key, lk, ch, owner string) {
	pause := 20 * time.Millisecond
	var err error
	for attempt := range 5 {
		if attempt > 0 && !sleep(ctx, pause) {
			break
		}
		if err = unlockScript.Run(ctx, r.c, []string{lk}, owner, ch).Err(); err == nil {
			return
		}
		pause *= 2
	}
	r.log.Error("tokenstore: redis: cannot release a refresh lock; it expires by its TTL",
		"key", key, "ttl", r.lockTTL, "err", err)
}

// errWrongType is a token key that holds a hash, list or other non-string,
// written by another tool: a record that cannot be read, which a real
// token replaces.
var errWrongType = fmt.Errorf("%w: the Redis key holds another type than a string", ErrCorrupt)

// isWrongType reports a command run on a key of another type.
func isWrongType(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "WRONGTYPE") }

// isNoPerm reports an ACL refusal.
func isNoPerm(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOPERM") }

// sleep waits d or until ctx ends, and reports whether it waited.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func newOwner() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
