package ucoauthtest

import (
	"net/http"
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

// Handler returns the server's routes for serving with your own http.Server:
// the OAuth endpoints and the API under /rest/v2/, GET / answering 200 so that
// scripts can wait for the server to come up, and the device verification
// page that the device flow's verification_uri points to.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", s.mux)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ucoauthtest: a fake UltraCart. OAuth and API under " + s.BaseURL() + "\n"))
	})
	mux.HandleFunc("GET /rest/v2/oauth/device", func(w http.ResponseWriter, _ *http.Request) {
		// The fake approves every device code on the second poll: there is
		// nothing for the merchant to do here.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ucoauthtest: device codes are approved automatically; go back to your device.\n"))
	})
	return mux
}
