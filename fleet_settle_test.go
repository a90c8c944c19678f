package ucoauth_test

import (
	"fmt"
	"time"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// fleetSettledLifetime is how long the fake UltraCart's tokens live once
// every fleet process has stopped hammering (spawnFleet sets it): longer
// than any fleet's run, so that the first such token is the last one.
const fleetSettledLifetime = time.Hour

// fleetSettled reports whether a fleet process may report tok as its final
// token: it is the one the store holds, and it is a settled token, which no
// refresh replaces before every process has reported.
//
// A margin on a short token's remaining life ("still fresh for 700 ms") is
// not enough: on a loaded machine the reports of 8 processes spread over
// more than that, the token entered its early window between two of them,
// and the late process refreshed and reported the newer token, so that the
// parent found the others "on an older token".
func fleetSettled(tok, stored *oauth2.Token) bool {
	return tok.AccessToken == stored.AccessToken && time.Until(stored.Expiry) > fleetSettledLifetime/2
}

// fleetReady is a fleet process's first call: it waits until src serves a
// token (a few hundred tries at most), then prints READY for spawnFleet.
func fleetReady(src *ucoauth.TokenSource) {
	for range 500 {
		if _, err := src.Token(); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("READY")
}
