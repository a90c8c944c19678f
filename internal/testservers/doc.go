// Package testservers holds the real-server starters of this repository's
// tests (redistest, sqltest), in a module of their own so that their
// drivers and miniredis stay out of the root module. It has no code of its
// own.
package testservers
