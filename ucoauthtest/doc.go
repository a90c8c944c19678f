// Package ucoauthtest is a fake UltraCart authorization and API server for
// tests: yours as well as ours. It runs on a real loopback socket, answers
// with UltraCart's exact shapes, and has knobs for everything that goes wrong
// in production: token lifetime, refresh-token rotation, the format of
// expires_in, injected failures, latency, and counters per grant type.
package ucoauthtest
