package main

import (
	"net"
	"net/url"
	"strings"

	"github.com/ucoauth/go-ucoauth/ucoauth"
	"golang.org/x/oauth2"
)

// Environment variables behind the common settings.
const (
	envStore        = "UCOAUTH_STORE"
	envSealKeys     = "UCOAUTH_SEAL_KEYS"
	envBaseURL      = "ULTRACART_BASE_URL"
	envClientID     = "ULTRACART_CLIENT_ID"
	envClientSecret = "ULTRACART_CLIENT_SECRET"
)

// settings are the flags most commands share. A flag given on the command
// line wins over its environment variable, even when given empty.
type settings struct {
	fs                                     *flagSet
	store, baseURL, clientID, clientSecret string
}

// storeFlag registers -store.
func (s *settings) storeFlag(fs *flagSet) {
	s.fs = fs
	fs.StringVar(&s.store, "store", "", "token store: file:DIR, redis://[user:password@]host:port[/db][?prefix=P], rediss://..., postgres://...[?table=T], mysql://USER:PASS@HOST:PORT/DB[?table=T] or sqlite:PATH[?table=T] (env "+envStore+"; sealed with "+envSealKeys+" when set)")
}

// clientFlags registers -client-id and -client-secret.
func (s *settings) clientFlags(fs *flagSet) {
	s.fs = fs
	fs.StringVar(&s.clientID, "client-id", "", "the application's client ID (env "+envClientID+")")
	fs.StringVar(&s.clientSecret, "client-secret", "", "the application's client secret; may be empty (env "+envClientSecret+", preferred: command lines show in ps)")
}

// endpointFlags registers -base-url and the client flags.
func (s *settings) endpointFlags(fs *flagSet) {
	fs.StringVar(&s.baseURL, "base-url", "", "UltraCart's REST API root, or a fake's (env "+envBaseURL+"; default "+ucoauth.BaseURL+")")
	s.clientFlags(fs)
}

// resolve fills the settings not given as flags from the environment.
func (s *settings) resolve(getenv func(string) string) {
	for _, b := range []struct {
		flag, env string
		v         *string
	}{
		{"store", envStore, &s.store},
		{"base-url", envBaseURL, &s.baseURL},
		{"client-id", envClientID, &s.clientID},
		{"client-secret", envClientSecret, &s.clientSecret},
	} {
		if s.fs.Lookup(b.flag) != nil && !s.fs.set(b.flag) {
			*b.v = getenv(b.env)
		}
	}
	if s.baseURL == "" {
		s.baseURL = ucoauth.BaseURL
	}
}

// config returns the application's config, refusing a base URL that would
// send secrets in clear.
func (s *settings) config(scopes ...string) (*oauth2.Config, error) {
	if s.clientID == "" {
		return nil, usageErrorf("the client ID is required: -client-id or %s", envClientID)
	}
	u, err := url.Parse(s.baseURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, usageErrorf("the base URL must be an absolute http(s) URL such as %s", ucoauth.BaseURL)
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return nil, usageErrorf("the base URL is plain http to a host that is not loopback: %v", ucoauth.ErrInsecureEndpoint)
	}
	cfg := ucoauth.NewConfig(s.clientID, s.clientSecret, "", scopes...)
	cfg.Endpoint = ucoauth.EndpointAt(s.baseURL)
	return cfg, nil
}

// loopback reports whether host is a loopback IP or localhost.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
