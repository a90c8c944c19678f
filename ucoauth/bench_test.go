package ucoauth_test

import (
	"context"
	"testing"
	"time"

	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	"github.com/ucoauth/go-ucoauth/ucoauthtest"
	"golang.org/x/oauth2"
)

// hotSources returns a go-ucoauth source and the x/oauth2 equivalent users
// write today, both holding the same fresh token.
func hotSources(b *testing.B) (ours, theirs oauth2.TokenSource) {
	srv := ucoauthtest.NewServer()
	b.Cleanup(srv.Close)
	tok := srv.Issue("DEMO", ucoauth.ScopeOrderRead)
	store := tokenstore.NewMemory()
	if err := store.Save(context.Background(), "m", tok); err != nil {
		b.Fatal(err)
	}
	src := ucoauth.NewTokenSource(srv.Config(), store, "m")
	if _, err := src.Token(); err != nil {
		b.Fatal(err)
	}
	cfg := srv.Config()
	return src, oauth2.ReuseTokenSource(tok, cfg.TokenSource(context.Background(), tok))
}

func benchToken(b *testing.B, src oauth2.TokenSource) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.Token(); err != nil {
			b.Fatal(err)
		}
	}
}

func benchTokenParallel(b *testing.B, src oauth2.TokenSource) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := src.Token(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkToken is scenario 1 of BENCHMARKS.md: Token() on a fresh token.
func BenchmarkToken(b *testing.B) {
	ours, theirs := hotSources(b)
	b.Run("lib=ucoauth", func(b *testing.B) { benchToken(b, ours) })
	b.Run("lib=xoauth2", func(b *testing.B) { benchToken(b, theirs) })
}

func BenchmarkTokenParallel(b *testing.B) {
	ours, theirs := hotSources(b)
	b.Run("lib=ucoauth", func(b *testing.B) { benchTokenParallel(b, ours) })
	b.Run("lib=xoauth2", func(b *testing.B) { benchTokenParallel(b, theirs) })
}

// BenchmarkTimeNow is the floor under both: one clock read.
func BenchmarkTimeNow(b *testing.B) {
	var t time.Time
	for b.Loop() {
		t = time.Now()
	}
	_ = t
}
