package redisstore_test

import (
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ucoauth/go-ucoauth/internal/fleet"
	"github.com/ucoauth/go-ucoauth/internal/testservers/redistest"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
)

// envRevokedRedis tells a child of TestRevokedMerchantStaysRevokedFleet
// the Redis to use.
const envRevokedRedis = "UCOAUTH_REVOKED_REDIS"

// TestRevokedMerchantStaysRevokedFleet runs fleet.Revoked on Redis: 3 OS
// processes hold the merchant's tokens, a fourth revokes it, and none
// brings it back until a new authorization (the root module runs it on a
// file store).
func TestRevokedMerchantStaysRevokedFleet(t *testing.T) {
	if addr := os.Getenv(envRevokedRedis); addr != "" {
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
		t.Cleanup(func() { c.Close() })
		fleet.RevokedChild(t, redisstore.New(c))
		return
	}
	for _, mode := range []struct {
		name   string
		answer ucoauthtest.RevokeAnswer
	}{{"AccessOnly", ucoauthtest.RevokeAccessOnly}, {"Strict", ucoauthtest.RevokeRFC7009Strict}} {
		t.Run(mode.name, func(t *testing.T) {
			rs := redistest.Start(t)
			fleet.Revoked(t, "TestRevokedMerchantStaysRevokedFleet", mode.answer, redisstore.New(rs.TestClient(t)), envRevokedRedis+"="+rs.Addr)
		})
	}
}

// TestLockWaiterAdoptsTheHoldersToken runs fleet.WaiterAdopts on Redis: a
// source waiting for the lock adopts the token its holder saved.
func TestLockWaiterAdoptsTheHoldersToken(t *testing.T) {
	fleet.WaiterAdopts(t, redisstore.New(redistest.Start(t).TestClient(t)))
}
