package tokenstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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
)

// Redis is a TokenStore and Locker on Redis, for a fleet of processes that
// share merchants. Create it with NewRedis; the zero value is not usable. It takes a redis.UniversalClient, so a single node,
// Sentinel and Cluster all work.
//
// # Key layout
//
// For store key K and prefix P (default "ucoauth:"):
//
//	P{K}:token   the versioned JSON record (see Marshal), with an optional TTL
//	P{K}:lock    the refresh lock: a random owner value, with a PX expiry
//	P{K}:unlock  the pub/sub channel a lock holder publishes to on release
//
// The braces are a Cluster hash tag, so one merchant's keys share a slot
// (the unlock script touches the lock and its channel together). A key that
// contains a brace, or starts with "#", is replaced inside the braces by "#"
// and a hex SHA-256 digest of it, so that the tag stays intact.
//
// # Consistency
//
// Save is a WATCH/MULTI transaction on one key: it never writes half a
// record, never replaces a token with one that expires earlier
// (ucoauth.ErrSuperseded), and keeps the stored refresh token when the new
// token has none. A refresh that finishes late cannot clobber a fresher
// token that another instance saved.
//
// # The lock
//
// Lock is SET NX PX with a random owner value; unlock deletes the key only
// if the owner is still ours (a Lua compare-and-delete), so a holder whose
// lock expired cannot release a successor's. Waiters do not spin: they
// subscribe to the unlock channel and retry when the holder publishes, with
// a backoff poll (10 ms doubling to 250 ms) in case a message is lost.
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
}

var (
	_ ucoauth.TokenStore = (*Redis)(nil)
	_ ucoauth.Locker     = (*Redis)(nil)
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

// NewRedis returns a store on client. The client is not closed by the store.
func NewRedis(client redis.UniversalClient, opts ...RedisOption) *Redis {
	r := &Redis{c: client, prefix: DefaultRedisPrefix, lockTTL: DefaultLockTTL}
	for _, o := range opts {
		o(r)
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
	for range 16 { // optimistic: retry when another save slipped in
		err := r.c.Watch(ctx, func(tx *redis.Tx) error {
			var old *oauth2.Token
			b, err := tx.Get(ctx, rk).Bytes()
			switch {
			case err == nil:
				old, _ = Unmarshal(key, b) // a corrupt record may be replaced by a real token
			case !errors.Is(err, redis.Nil):
				return err
			}
			nb, err := encodeOver(key, old, tok)
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, rk, nb, r.ttl)
				return nil
			})
			return err
		}, rk)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, redis.TxFailedErr):
			continue
		case errors.Is(err, ucoauth.ErrSuperseded), errors.Is(err, ErrInvalidToken):
			return err
		default:
			return fmt.Errorf("tokenstore: redis: %w", err)
		}
	}
	return errors.New("tokenstore: redis: too much contention saving the token")
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

// unlockScript deletes the lock only if we still own it.
var unlockScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	redis.call("DEL", KEYS[1])
	redis.call("PUBLISH", KEYS[2], "1")
	return 1
end
return 0`)

// Lock takes key's refresh lock, shared by every process using the Redis.
func (r *Redis) Lock(ctx context.Context, key string) (func(), error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	lk, ch := r.key(key, "lock"), r.key(key, "unlock")
	owner := newOwner()
	try := func() (bool, error) { return r.c.SetNX(ctx, lk, owner, r.lockTTL).Result() }

	ok, err := try()
	if err != nil {
		return nil, fmt.Errorf("tokenstore: redis lock: %w", err)
	}
	if !ok {
		// Subscribe before retrying, so a release between the two is seen.
		sub := r.c.Subscribe(ctx, ch)
		defer sub.Close()
		if _, err := sub.Receive(ctx); err != nil {
			return nil, fmt.Errorf("tokenstore: redis lock: subscribing: %w", err)
		}
		msgs := sub.Channel()
		wait := 10 * time.Millisecond
		for {
			if ok, err = try(); err != nil {
				return nil, fmt.Errorf("tokenstore: redis lock: %w", err)
			} else if ok {
				break
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("tokenstore: waiting for redis lock on %q: %w", key, ctx.Err())
			case <-msgs:
			case <-t.C:
				wait = min(2*wait, 250*time.Millisecond)
			}
			t.Stop()
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			// Detached: a cancelled caller must still release the lock.
			c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = unlockScript.Run(c, r.c, []string{lk, ch}, owner).Err()
		})
	}, nil
}

func newOwner() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
