// Package sqltest starts real database servers for tests and benchmarks: a
// PostgreSQL (initdb + postgres) and a MariaDB (mariadb-install-db +
// mariadbd), each in a temporary directory on a free loopback port, run as
// an unprivileged system user when the tests run as root (both servers
// refuse root). When a server's binaries are absent the caller skips,
// unless UCOAUTH_REQUIRE_SQL_SERVERS=1 (CI sets it), which makes it fail.
// SQLite needs no server: SQLiteDSN names a file.
package sqltest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // the "sqlite" driver
)

// EnvRequire makes a missing server binary a failure instead of a skip.
const EnvRequire = "UCOAUTH_REQUIRE_SQL_SERVERS"

// ErrNoBinaries means the server's binaries are not installed.
var ErrNoBinaries = errors.New("sqltest: server binaries not installed")

// Server is a running database server owned by this process.
type Server struct {
	// Kind is "postgres" or "mariadb".
	Kind string
	// Addr is the loopback host:port it listens on.
	Addr string
	// DSN is a data source name for the driver named by Driver.
	DSN string
	// Driver is the database/sql driver name: "pgx" or "mysql".
	Driver string

	bin  string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// Open returns a new *sql.DB on the server (a separate pool: another
// process's view).
func (s *Server) Open() (*sql.DB, error) { return sql.Open(s.Driver, s.DSN) }

// OpenDialed opens a *sql.DB whose connections go through dial, so that a
// test can cut them as a dying process would.
func (s *Server) OpenDialed(dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*sql.DB, error) {
	switch s.Kind {
	case "postgres":
		cfg, err := pgx.ParseConfig(s.DSN)
		if err != nil {
			return nil, err
		}
		cfg.DialFunc = dial
		return stdlib.OpenDB(*cfg), nil
	default:
		cfg, err := mysql.ParseDSN(s.DSN)
		if err != nil {
			return nil, err
		}
		cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) { return dial(ctx, network, addr) }
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, err
		}
		return sql.OpenDB(conn), nil
	}
}

// String says what the server is, for test logs.
func (s *Server) String() string { return s.Kind + " (" + s.bin + ") at " + s.Addr }

// Close stops the server and removes its directory.
func (s *Server) Close() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM) // fast shutdown for both
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// Shared servers, started at most once per test binary.
var (
	mu     sync.Mutex
	shared = map[string]*Server{}
	errs   = map[string]error{}
)

// Postgres returns the package's shared PostgreSQL, starting it on first
// use; call CloseShared from TestMain. It skips (or fails, with
// UCOAUTH_REQUIRE_SQL_SERVERS=1) when PostgreSQL is not installed.
func Postgres(tb testing.TB) *Server { return get(tb, "postgres", StartPostgres) }

// MariaDB is Postgres for MariaDB.
func MariaDB(tb testing.TB) *Server { return get(tb, "mariadb", StartMariaDB) }

func get(tb testing.TB, kind string, start func() (*Server, error)) *Server {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	s, err := shared[kind], errs[kind]
	if s == nil && err == nil {
		s, err = start()
		shared[kind], errs[kind] = s, err
		if err == nil {
			tb.Logf("sqltest: started %s", s)
		}
	}
	if err != nil {
		Unavailable(tb, err)
	}
	return s
}

// Unavailable skips tb for missing binaries, unless EnvRequire is set, and
// fails it for any other error.
func Unavailable(tb testing.TB, err error) {
	tb.Helper()
	if errors.Is(err, ErrNoBinaries) && os.Getenv(EnvRequire) == "" {
		tb.Skip(err)
	}
	tb.Fatal(err)
}

// CloseShared stops the shared servers. TestMain calls it after m.Run.
func CloseShared() {
	mu.Lock()
	defer mu.Unlock()
	for k, s := range shared {
		if s != nil {
			s.Close()
		}
		delete(shared, k)
	}
}

// SQLiteDSN is a modernc.org/sqlite DSN for the file at path, set up as a
// store shared by several processes needs it: WAL, and a busy timeout.
func SQLiteDSN(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
}

// OpenSQLite opens the SQLite file at path.
func OpenSQLite(path string) (*sql.DB, error) { return sql.Open("sqlite", SQLiteDSN(path)) }

// ---- starting servers -------------------------------------------------------

// pickPort chooses the port for a new server; tests replace it.
var pickPort = freePort

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// runAs is the credential for a server that refuses root: name's when this
// process is root, none otherwise.
func runAs(names ...string) (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, -1, -1, nil
	}
	for _, n := range append(names, "nobody") {
		u, err := user.Lookup(n)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, uid, gid, nil
	}
	return nil, 0, 0, errors.New("sqltest: running as root and no unprivileged user to run the server as")
}

// tempDir makes a directory the server's user owns, under a traversable
// parent (os.TempDir, not testing's 0700 one).
func tempDir(prefix string, uid, gid int) (string, error) {
	base := os.TempDir()
	if fi, err := os.Stat(base); uid >= 0 && (err != nil || fi.Mode().Perm()&0o001 == 0) {
		base = "/tmp" // the server's user could not reach a private TMPDIR
	}
	dir, err := os.MkdirTemp(base, prefix)
	if err != nil {
		return "", err
	}
	if uid >= 0 {
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	return dir, nil
}

func command(cred *syscall.Credential, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

func (s *Server) start(cmd *exec.Cmd) error {
	logf, err := os.Create(filepath.Join(s.dir, "server.log"))
	if err != nil {
		return err
	}
	s.log = logf.Name()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(s.done) }()
	return nil
}

// waitReady pings the server until it answers, it exits, or 60 s pass.
func (s *Server) waitReady() error {
	db, err := s.Open()
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("sqltest: %s exited: %s", s.Kind, tail(s.log))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sqltest: %s did not answer on %s: %v; log: %s", s.Kind, s.Addr, err, tail(s.log))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func fail(s *Server, err error) (*Server, error) {
	s.Close()
	return nil, err
}

// pgBin finds PostgreSQL's binaries: on PATH, or the newest under
// /usr/lib/postgresql/*/bin (Debian keeps them off PATH).
func pgBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "postgres")); err == nil {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("%w: no initdb on PATH or under /usr/lib/postgresql/*/bin (apt-get install postgresql)", ErrNoBinaries)
}

// startAttempts bounds the starts of one server: a port found free can be
// taken by another program (another test binary's server) before ours binds.
const startAttempts = 3

// StartPostgres starts a new PostgreSQL; the caller closes it.
func StartPostgres() (*Server, error) { return startRetrying(startPostgres) }

// StartMariaDB starts a new MariaDB; the caller closes it.
func StartMariaDB() (*Server, error) { return startRetrying(startMariaDB) }

// startRetrying starts a server again, on a new port, after a failure that
// is not missing binaries.
func startRetrying(start func() (*Server, error)) (*Server, error) {
	var err error
	for range startAttempts {
		var s *Server
		if s, err = start(); err == nil || errors.Is(err, ErrNoBinaries) {
			return s, err
		}
	}
	return nil, err
}

// checkOwn fails unless the server answering on s.Addr keeps its data in
// data: another server that held the port would answer the ping too, and
// the tests would run on a database this process does not own.
func (s *Server) checkOwn(query, data string) error {
	db, err := sql.Open(s.Driver, s.DSN)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got string
	if err := db.QueryRowContext(ctx, query).Scan(&got); err != nil {
		return fmt.Errorf("sqltest: asking %s at %s for its data directory: %w", s.Kind, s.Addr, err)
	}
	if sameDir(got, data) {
		return nil
	}
	return fmt.Errorf("sqltest: %s at %s is another server (data in %s, not %s): the port was taken", s.Kind, s.Addr, got, data)
}

func sameDir(a, b string) bool {
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	if err1 != nil || err2 != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return ra == rb
}

func startPostgres() (*Server, error) {
	bin, err := pgBin()
	if err != nil {
		return nil, err
	}
	cred, uid, gid, err := runAs("postgres")
	if err != nil {
		return nil, err
	}
	port, err := pickPort()
	if err != nil {
		return nil, err
	}
	dir, err := tempDir("ucoauth-pg-", uid, gid)
	if err != nil {
		return nil, err
	}
	s := &Server{Kind: "postgres", Driver: "pgx", dir: dir, bin: bin, Addr: fmt.Sprintf("127.0.0.1:%d", port)}
	s.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	data := filepath.Join(dir, "data")
	initdb := command(cred, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(s, fmt.Errorf("sqltest: initdb: %w: %s", err, out))
	}
	cmd := command(cred, filepath.Join(bin, "postgres"), "-D", data, "-h", "127.0.0.1", "-p", strconv.Itoa(port),
		"-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=32MB", "-c", "log_min_messages=warning")
	cmd.Dir = dir
	if err := s.start(cmd); err != nil {
		return fail(s, fmt.Errorf("sqltest: starting postgres: %w", err))
	}
	if err := s.waitReady(); err != nil {
		return fail(s, err)
	}
	if err := s.checkOwn("SHOW data_directory", data); err != nil {
		return fail(s, err)
	}
	return s, nil
}

func startMariaDB() (*Server, error) {
	var server, install string
	for _, n := range []string{"mariadbd", "mysqld"} {
		if p, err := exec.LookPath(n); err == nil {
			server = p
			break
		}
		if p := "/usr/sbin/" + n; fileExists(p) {
			server = p
			break
		}
	}
	for _, n := range []string{"mariadb-install-db", "mysql_install_db"} {
		if p, err := exec.LookPath(n); err == nil {
			install = p
			break
		}
	}
	if server == "" || install == "" {
		return nil, fmt.Errorf("%w: no mariadbd or mariadb-install-db (apt-get install mariadb-server)", ErrNoBinaries)
	}
	cred, uid, gid, err := runAs("mysql")
	if err != nil {
		return nil, err
	}
	port, err := pickPort()
	if err != nil {
		return nil, err
	}
	dir, err := tempDir("ucoauth-mariadb-", uid, gid)
	if err != nil {
		return nil, err
	}
	s := &Server{Kind: "mariadb", Driver: "mysql", dir: dir, bin: server, Addr: fmt.Sprintf("127.0.0.1:%d", port)}
	s.DSN = fmt.Sprintf("root@tcp(127.0.0.1:%d)/ucoauth", port)
	data := filepath.Join(dir, "data")
	inst := command(cred, install, "--no-defaults", "--datadir="+data, "--auth-root-authentication-method=normal",
		"--skip-test-db", "--skip-name-resolve")
	inst.Dir = dir
	if out, err := inst.CombinedOutput(); err != nil {
		return fail(s, fmt.Errorf("sqltest: mariadb-install-db: %w: %s", err, out))
	}
	cmd := command(cred, server, "--no-defaults", "--datadir="+data, "--port="+strconv.Itoa(port), "--bind-address=127.0.0.1",
		"--socket="+filepath.Join(dir, "mysqld.sock"), "--pid-file="+filepath.Join(dir, "mysqld.pid"),
		"--skip-log-bin", "--skip-name-resolve", "--innodb-buffer-pool-size=32M", "--innodb-flush-log-at-trx-commit=0",
		"--innodb-doublewrite=0", "--performance-schema=OFF", "--max-connections=300")
	cmd.Dir = dir
	if err := s.start(cmd); err != nil {
		return fail(s, fmt.Errorf("sqltest: starting mariadbd: %w", err))
	}
	// The store's database: connect without one to create it.
	bare := *s
	bare.DSN = strings.TrimSuffix(s.DSN, "ucoauth")
	if err := bare.waitReady(); err != nil {
		return fail(s, err)
	}
	if err := bare.checkOwn("SELECT @@datadir", data); err != nil {
		return fail(s, err)
	}
	db, err := bare.Open()
	if err != nil {
		return fail(s, err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE IF NOT EXISTS ucoauth"); err != nil {
		return fail(s, fmt.Errorf("sqltest: creating the database: %w", err))
	}
	return s, nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// NewPostgres starts a PostgreSQL of tb's own, stopped when tb ends. It
// skips (or fails, with UCOAUTH_REQUIRE_SQL_SERVERS=1) when PostgreSQL is
// not installed.
func NewPostgres(tb testing.TB) *Server {
	tb.Helper()
	s, err := StartPostgres()
	if err != nil {
		Unavailable(tb, err)
	}
	tb.Logf("sqltest: started %s", s)
	tb.Cleanup(s.Close)
	return s
}

// NewMariaDB is NewPostgres for MariaDB.
func NewMariaDB(tb testing.TB) *Server {
	tb.Helper()
	s, err := StartMariaDB()
	if err != nil {
		Unavailable(tb, err)
	}
	tb.Logf("sqltest: started %s", s)
	tb.Cleanup(s.Close)
	return s
}
