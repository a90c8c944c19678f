// Package interop holds tests that run go-ucoauth against OAuth 2 servers
// nobody on this project wrote (github.com/ory/fosite, through
// internal/fositeserver). It has no code of its own.
package interop
