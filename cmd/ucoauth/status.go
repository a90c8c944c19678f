package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

const statusHelp = `Lists the tokens in the store: every key when none is named (the store must
be able to list its keys), or the keys named. For each: its state, expiry,
scope and the fingerprints of its access and refresh tokens. Never the tokens.

States, judged from the stored token as a TokenSource would:
  fresh     served as is
  stale     inside the early-refresh window (5 minutes, capped at half the
            lifetime): the next use refreshes it
  expired   past its expiry: the next use refreshes it (if it has a refresh token)
  missing   no token under this key
  error     the record could not be read (the error says why)

Exit status 1 when a named key is missing or any record cannot be read.
`

// row is one key's line in the status table, and its -json object.
type row struct {
	Key string `json:"key"`
	// State is fresh, stale, expired, missing or error.
	State     string     `json:"state"`
	Expiry    *time.Time `json:"expiry,omitempty"`
	ExpiresIn int64      `json:"expires_in_seconds,omitempty"`
	Scope     string     `json:"scope,omitempty"`
	Access    string     `json:"access_fingerprint,omitempty"`
	Refresh   string     `json:"refresh_fingerprint,omitempty"`
	Error     string     `json:"error,omitempty"`
}

func runStatus(e *env, args []string) error {
	fs := newFlagSet(e, "status", "[flags] [KEY...]", statusHelp)
	var s settings
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table (still no tokens)")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	s.storeFlag(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	if *timeout <= 0 {
		return usageErrorf("-timeout must be positive")
	}
	s.resolve(e.getenv)
	store, closeStore, err := openStore(s.store, e.getenv(envSealKeys), e.stderr)
	if err != nil {
		return err
	}
	defer closeStore()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	keys, named := fs.Args(), fs.NArg() > 0
	if !named {
		l, ok := store.(ucoauth.Lister)
		if !ok {
			return usageErrorf("this store cannot list its keys; name them: ucoauth status KEY...")
		}
		if keys, err = l.Keys(ctx); err != nil {
			return fmt.Errorf("listing keys: %w", err)
		}
		slices.Sort(keys)
	}
	rows := make([]row, 0, len(keys))
	bad := 0
	now := time.Now()
	for _, k := range keys {
		tok, err := store.Load(ctx, k)
		if err == nil {
			err = refuseSealed(tok)
		}
		r := row{Key: k}
		switch {
		case errors.Is(err, ucoauth.ErrTokenNotFound):
			r.State = "missing"
			if named {
				bad++
			}
		case err != nil:
			r.State, r.Error = "error", oneLine(err.Error())
			bad++
		default:
			r = describeRow(k, tok, now)
		}
		rows = append(rows, r)
	}

	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return err
		}
	} else if err := table(e, rows, now); err != nil {
		return err
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d keys missing or unreadable", bad, len(rows))
	}
	return nil
}

// describeRow describes tok without revealing it.
func describeRow(key string, tok *oauth2.Token, now time.Time) row {
	r := row{Key: key, State: stateOf(tok, now), Scope: scopeOf(tok),
		Access: ucoauth.Fingerprint(tok.AccessToken), Refresh: ucoauth.Fingerprint(tok.RefreshToken)}
	if !tok.Expiry.IsZero() {
		exp := tok.Expiry.UTC()
		r.Expiry = &exp
		r.ExpiresIn = int64(tok.Expiry.Sub(now) / time.Second)
	}
	return r
}

// stateOf judges a stored token as a TokenSource with the default early
// window would: stale inside the window (capped at half the granted
// lifetime), expired past the expiry. A token with no expiry is refreshed at
// once, so it counts as stale.
func stateOf(tok *oauth2.Token, now time.Time) string {
	if tok.Expiry.IsZero() {
		return "stale"
	}
	remaining := tok.Expiry.Sub(now)
	if remaining <= 0 {
		return "expired"
	}
	// A store of one's own may hold any expires_in: bound it before the
	// multiplication, which would overflow past 292 years.
	lifetime := time.Duration(min(max(tok.ExpiresIn, 0), int64(ucoauth.MaxLifetime/time.Second))) * time.Second
	if lifetime <= 0 {
		lifetime = remaining
	}
	if remaining <= min(ucoauth.DefaultEarlyRefresh, lifetime/2) {
		return "stale"
	}
	return "fresh"
}

func table(e *env, rows []row, now time.Time) error {
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KEY\tSTATE\tEXPIRES\tSCOPE\tACCESS\tREFRESH")
	for _, r := range rows {
		exp, access, refresh, scope := "-", "-", "-", "-"
		if r.Expiry != nil {
			exp = r.Expiry.Local().Format(time.RFC3339) + " (" + relative(r.Expiry.Sub(now)) + ")"
		}
		if r.Access != "" {
			access = r.Access
		}
		if r.Refresh != "" {
			refresh = r.Refresh
		} else if r.State != "missing" && r.State != "error" {
			refresh = "none"
		}
		if r.Scope != "" {
			scope = oneLine(r.Scope) // UltraCart's text: no control characters
		}
		if r.Error != "" {
			exp = r.Error
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", printable(r.Key), r.State, exp, scope, access, refresh)
	}
	return w.Flush()
}

// printable quotes a key that holds anything but printable characters, so
// that no key can break the table or the terminal.
func printable(k string) string {
	for _, r := range k {
		if !unicode.IsPrint(r) || r == '\t' {
			return strconv.Quote(k)
		}
	}
	return k
}

// relative says "in 59m" or "3m ago".
func relative(d time.Duration) string {
	if d < 0 {
		return (-d).Round(time.Second).String() + " ago"
	}
	return "in " + d.Round(time.Second).String()
}
