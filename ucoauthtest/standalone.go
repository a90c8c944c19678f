package ucoauthtest

import (
	"strings"
)

// NewStandalone returns a Server that does not listen by itself, for running
// the fake UltraCart as a long-lived service (as `ucoauth fake` does) behind
// an http.Server of your own: serve [Server.Handler] at rootURL, the URL
// clients reach it at, such as "http://127.0.0.1:8080". Its defaults are
// NewServer's. Close does nothing on it; shut down your http.Server instead.
func NewStandalone(rootURL string) *Server {
	s := newServer()
	s.URL = strings.TrimRight(rootURL, "/")
	return s
}
