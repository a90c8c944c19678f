// Package tokenstore provides ucoauth.TokenStore implementations: Memory for
// tests and single processes, File for processes sharing a host, and Redis
// for a fleet. Each is safe for concurrent use, refuses to replace a token
// with an older one (ucoauth.ErrSuperseded), never replaces a refresh token
// with an empty one, and implements ucoauth.Locker so that a TokenSource
// refreshes each key once across everyone sharing the store.
//
// File and Redis keep the same versioned JSON record, written by Marshal.
package tokenstore
