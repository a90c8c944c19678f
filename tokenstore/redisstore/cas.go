package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ucoauth/go-ucoauth/internal/record"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// Save stores tok atomically, unless a token that expires later is stored.
func (r *Store) Save(ctx context.Context, key string, tok *oauth2.Token) error {
	return r.compareAndSet(ctx, key, r.ttl, func(old []byte) ([]byte, error) {
		return record.EncodeOverRaw(key, old, tok)
	})
}

// compareAndSet replaces key's record with what encode makes of the stored
// one (nil when there is none, or a value that is not a record), in a
// WATCH/MULTI transaction on that one key, with a TTL of ttl (0: none). It
// retries while another write slips in or a Cluster slot moves, and
// returns nil only when it saw the reply of its own SET inside EXEC:
// go-redis v9's ClusterClient.Watch can return nil without running the
// transaction. Save and Tombstone both write through it.
func (r *Store) compareAndSet(ctx context.Context, key string, ttl time.Duration, encode func(old []byte) ([]byte, error)) error {
	if err := record.CheckKey(key); err != nil {
		return err
	}
	rk := r.key(key, "token")
	pause := 5 * time.Millisecond
	for range 16 { // optimistic: retry when another write slipped in
		ran := false
		err := r.c.Watch(ctx, func(tx *redis.Tx) error {
			b, err := tx.Get(ctx, rk).Bytes()
			switch {
			case errors.Is(err, redis.Nil), isWrongType(err):
				b = nil // nothing, or not a record at all: the new record replaces it
			case err != nil:
				return err
			}
			nb, err := encode(b)
			if err != nil {
				return err
			}
			var set *redis.StatusCmd
			if _, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				set = p.Set(ctx, rk, nb, ttl)
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
			// Not run (a slot on the move) or raced by another write: again.
			err = ErrUnconfirmed
		case errors.Is(err, ucoauth.ErrSuperseded), errors.Is(err, record.ErrInvalidToken), errors.Is(err, record.ErrNewerFormat),
			errors.Is(err, record.ErrInvalidKey), errors.Is(err, ErrNotReplicated), errors.Is(err, ucoauth.ErrRevoked):
			return err
		default:
			return fmt.Errorf("redisstore: %w", err)
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
func (r *Store) awaitReplicas(ctx context.Context, tx *redis.Tx) error {
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
func (r *Store) replicaCount(ctx context.Context, tx *redis.Tx) (int, error) {
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
			r.log.Warn("redisstore: cannot read INFO replication; not waiting for replicas (see WithReplicaAcks)", "node", node, "err", err)
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
