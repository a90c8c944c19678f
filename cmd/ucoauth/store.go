package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	"github.com/redis/go-redis/v9"
	"github.com/ucoauth/go-ucoauth/tokenstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/redisstore"
	"github.com/ucoauth/go-ucoauth/tokenstore/sqlstore"
	"github.com/ucoauth/go-ucoauth/ucoauth"
	_ "modernc.org/sqlite" // the "sqlite" driver
)

// openStore opens the token store spec names, sealed with sealKeys (from
// UCOAUTH_SEAL_KEYS) when they are set, and returns it with the function
// that releases it (a Redis client's or database's connections):
//
//	file:DIR                       tokenstore.NewFile(DIR)
//	redis://... or rediss://...    redisstore.New, URL as redis.ParseURL reads it,
//	                               plus ?prefix=P for redisstore.WithKeyPrefix
//	postgres://... (postgresql://) sqlstore.New over pgx, plus ?table=T
//	mysql://USER:PASS@HOST:PORT/DB sqlstore.New over go-sql-driver/mysql, plus ?table=T
//	sqlite:PATH                    sqlstore.New over modernc.org/sqlite, plus ?table=T
//
// The drivers are linked into the command only; the library imports none.
//
// Warnings (a store file that others can read) go to warn.
func openStore(spec, sealKeys string, warn io.Writer) (ucoauth.TokenStore, func(), error) {
	var keys []tokenstore.SealKey
	if sealKeys != "" {
		var err error
		if keys, err = tokenstore.ParseSealKeys(sealKeys); err != nil {
			return nil, nil, usageErrorf("%s: %v", envSealKeys, err)
		}
	}
	store, closeStore, err := openPlain(spec, warn)
	if err != nil || keys == nil {
		return store, closeStore, err
	}
	sealed, err := tokenstore.Seal(store, keys[0], keys[1:]...)
	if err != nil {
		closeStore()
		return nil, nil, usageErrorf("%s: %v", envSealKeys, err)
	}
	return sealed, closeStore, nil
}

func openPlain(spec string, warn io.Writer) (ucoauth.TokenStore, func(), error) {
	scheme, rest, _ := strings.Cut(spec, ":")
	switch strings.ToLower(scheme) {
	case "":
		return nil, nil, usageErrorf("the token store is required: -store or %s (file:DIR, redis://, postgres://, mysql:// or sqlite:PATH)", envStore)
	case "file":
		dir := strings.TrimPrefix(rest, "//")
		if dir == "" {
			return nil, nil, usageErrorf("the file store needs a directory: file:DIR")
		}
		f, err := tokenstore.NewFile(dir)
		if err != nil {
			return nil, nil, fmt.Errorf("opening the file store: %w", err)
		}
		return f, func() {}, nil
	case "redis", "rediss":
		return openRedis(spec)
	case "postgres", "postgresql", "mysql", "sqlite":
		return openSQL(spec, warn)
	}
	return nil, nil, usageErrorf("unknown token store %q: use file:DIR, redis://, postgres://, mysql:// or sqlite:PATH", redactURL(spec))
}

// sqlSpec is a SQL store spec read without any I/O.
type sqlSpec struct {
	driver, dsn, table string
	path               string // SQLite's database file
	dialect            sqlstore.Dialect
}

// parseSQL reads a postgres://, mysql:// or sqlite: spec. The ?table=
// parameter is the library's, not the driver's, and is taken out.
func parseSQL(spec string) (sqlSpec, error) {
	scheme, rest, _ := strings.Cut(spec, ":")
	var out sqlSpec
	if strings.EqualFold(scheme, "sqlite") {
		path, query, _ := strings.Cut(strings.TrimPrefix(rest, "//"), "?")
		q, err := url.ParseQuery(query)
		if err != nil || path == "" {
			return out, usageErrorf("the SQLite store needs a file: sqlite:PATH[?table=T]")
		}
		out.table, out.path = q.Get("table"), path
		out.driver, out.dialect = "sqlite", sqlstore.SQLite
		// SQLite reads a file: name as a URI: %HH is decoded and # starts a
		// fragment. Escaped, the file it opens is the one prepareSQLite
		// made private and checked.
		out.dsn = "file:" + sqliteURIPath.Replace(path) + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
		return out, nil
	}
	u, err := url.Parse(spec)
	if err != nil {
		return out, usageErrorf("the %s URL does not parse (it is not shown: it may hold a password)", scheme)
	}
	if misplacedAt(u) {
		return out, usageErrorf("the %s URL has an @ after its host (it is not shown: it may hold a password): percent-encode the password's reserved characters", scheme)
	}
	q := u.Query()
	out.table = q.Get("table")
	q.Del("table")
	u.RawQuery = q.Encode()
	if strings.EqualFold(scheme, "mysql") {
		c := mysql.NewConfig()
		c.User = u.User.Username()
		c.Passwd, _ = u.User.Password()
		c.Net, c.Addr, c.DBName = "tcp", u.Host, strings.TrimPrefix(u.Path, "/")
		if len(q) > 0 {
			c.Params = map[string]string{}
			for k := range q {
				c.Params[k] = q.Get(k)
			}
		}
		out.driver, out.dialect, out.dsn = "mysql", sqlstore.MySQL, c.FormatDSN()
		return out, nil
	}
	out.driver, out.dialect, out.dsn = "pgx", sqlstore.Postgres, u.String()
	return out, nil
}

// sqliteURIPath escapes what SQLite's URI file names would read otherwise.
var sqliteURIPath = strings.NewReplacer("%", "%25", "#", "%23")

// openSQL opens a SQL store, creating its table if missing.
//
// A SQLite database is private to this user: see prepareSQLite.
func openSQL(spec string, warn io.Writer) (ucoauth.TokenStore, func(), error) {
	p, err := parseSQL(spec)
	if err != nil {
		return nil, nil, err
	}
	if p.path == ":memory:" {
		p.path = "" // no file
	}
	if p.path != "" {
		if err := prepareSQLite(p.path, warn); err != nil {
			return nil, nil, err
		}
		defer privateUmask()()
	}
	db, err := sql.Open(p.driver, p.dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("opening the %s store %s: %w", p.dialect, redactURL(spec), err)
	}
	var opts []sqlstore.Option
	if p.table != "" {
		opts = append(opts, sqlstore.WithTable(p.table))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := sqlstore.New(ctx, db, p.dialect, opts...)
	if err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("opening the %s store %s: %s", p.dialect, redactURL(spec), strings.ReplaceAll(err.Error(), p.dsn, "(DSN)"))
	}
	if p.path != "" {
		if err := secureSQLite(p.path); err != nil {
			_ = db.Close()
			return nil, nil, err
		}
	}
	return s, func() { _ = db.Close() }, nil
}

// openRedis opens a Redis store from a redis:// or rediss:// URL.
func openRedis(spec string) (ucoauth.TokenStore, func(), error) {
	u, err := url.Parse(spec)
	if err != nil {
		return nil, nil, usageErrorf("the Redis URL does not parse (it is not shown: it may hold a password)")
	}
	if misplacedAt(u) {
		return nil, nil, usageErrorf("the Redis URL has an @ after its host (it is not shown: it may hold a password): percent-encode the password's reserved characters")
	}
	q := u.Query()
	prefix, hasPrefix := q.Get("prefix"), q.Has("prefix")
	q.Del("prefix")
	u.RawQuery = q.Encode()
	opt, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, nil, usageErrorf("bad Redis URL %s: %s", redactURL(spec), strings.ReplaceAll(err.Error(), u.String(), redactURL(spec)))
	}
	redis.SetLogger(quietRedis{})
	client := redis.NewClient(opt)
	var opts []redisstore.Option
	if hasPrefix {
		opts = append(opts, redisstore.WithKeyPrefix(prefix))
	}
	return redisstore.New(client, opts...), func() { _ = client.Close() }, nil
}

// quietRedis drops go-redis's own log lines (a failed dial logs one per
// attempt): the error the command reports says it once, on one line.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// redactURL hides a URL's password, so a store spec can be shown in errors:
// the user info's, and the value of every query parameter whose name says
// it holds one (password=, sslpassword=: libpq and pgx take them). A spec
// that is not a hierarchical URL ("postgres:host=h password=p"), or that has
// an @ outside its user info (a password with an unescaped / or #), is not
// shown at all.
func redactURL(spec string) string {
	const hidden = "(not shown: it may hold a password)"
	u, err := url.Parse(spec)
	switch {
	case err != nil:
		// Unparsed, its password (user info or ?password=) is not found.
		return hidden
	case u.Opaque != "" || misplacedAt(u):
		return hidden
	}
	if q := u.Query(); u.RawQuery != "" {
		secret := false
		for k := range q {
			if sensitiveParam(k) {
				q[k] = []string{"xxxxx"}
				secret = true
			}
		}
		if secret {
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}

// misplacedAt reports an @ that url.Parse did not read as the end of the
// user info: a password with an unescaped / or #, whose rest then shows as
// the path or the fragment.
func misplacedAt(u *url.URL) bool {
	return strings.Contains(u.Path+u.Fragment, "@")
}

// sensitiveParam reports a query parameter that may hold a secret.
func sensitiveParam(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"pass", "pwd", "secret", "token", "key", "auth"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}
