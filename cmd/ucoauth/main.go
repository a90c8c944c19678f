// Command ucoauth manages UltraCart OAuth tokens from the command line and
// serves a fake UltraCart for development.
//
//	git clone https://github.com/ucoauth/go-ucoauth && cd go-ucoauth && go install ./cmd/ucoauth
//
// (The module is not published yet: "go install ...@latest" fails.)
//
//	ucoauth fake                       # a fake UltraCart on 127.0.0.1:8080
//	ucoauth login -key M1              # connect merchant M1, save its token
//	ucoauth token M1                   # print a valid access token
//	ucoauth status                     # every stored key: state, expiry, fingerprints
//	ucoauth refresh M1                 # refresh now
//	ucoauth revoke M1                  # revoke at UltraCart, delete from the store
//
// Settings come from flags or the environment, flags first: -store
// (UCOAUTH_STORE), -base-url (ULTRACART_BASE_URL), -client-id
// (ULTRACART_CLIENT_ID) and -client-secret (ULTRACART_CLIENT_SECRET).
// UCOAUTH_SEAL_KEYS, when set, seals the tokens at rest (see
// tokenstore.ParseSealKeys). Run "ucoauth <command> -h" for the details of
// each command.
//
// Exit status: 0 on success, 1 on failure, 2 for a usage error, 3 when the
// merchant has to connect (again): no token, or a dead grant.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"

	"github.com/ucoauth/go-ucoauth/ucoauth"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitConnect = 3 // no token, or a dead grant: the merchant must connect
)

func main() {
	os.Exit(run(os.Args[1:], &env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}))
}

// env is what a command may touch of the outside world.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(e *env, args []string) error
}

var commands = []command{
	{"fake", "serve a fake UltraCart for development and tests", runFake},
	{"login", "connect a merchant in a browser (or on a device) and save its token", runLogin},
	{"token", "print a valid access token, refreshing it first if needed", runToken},
	{"status", "list stored tokens: state, expiry, scope, fingerprints (never the tokens)", runStatus},
	{"refresh", "refresh a token now and save the new one", runRefresh},
	{"revoke", "revoke a merchant's grant at UltraCart and leave a tombstone", runRevoke},
}

const usageText = `ucoauth manages UltraCart OAuth tokens from the command line, and serves a
fake UltraCart for development.

Usage:
  ucoauth <command> [flags] [arguments]

Commands:
%s
Settings, as flags or environment variables (flags win):
  -store          UCOAUTH_STORE            where tokens live: file:DIR, redis://...,
                                           postgres://..., mysql://USER:PASS@HOST:PORT/DB
                                           or sqlite:PATH (SQL: ?table=T)
                  UCOAUTH_SEAL_KEYS        seal tokens at rest: ID:BASE64[,ID:BASE64...],
                                           the primary first (see tokenstore.ParseSealKeys)
  -base-url       ULTRACART_BASE_URL       default %s
  -client-id      ULTRACART_CLIENT_ID      the application's client ID
  -client-secret  ULTRACART_CLIENT_SECRET  its secret (prefer the environment:
                                           command lines show in ps)

Exit status: 0 success, 1 failure, 2 usage error, 3 the merchant must connect
(again): no token is stored, or UltraCart says the grant is dead.

Run "ucoauth <command> -h" for a command's flags.
`

func usage() string {
	var b strings.Builder
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-8s  %s\n", c.name, c.summary)
	}
	return fmt.Sprintf(usageText, b.String(), ucoauth.BaseURL)
}

// run runs the command line args and returns the exit status.
func run(args []string, e *env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage())
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && name == "help" {
			return run([]string{args[1], "-h"}, e)
		}
		fmt.Fprint(e.stdout, usage())
		return exitOK
	}
	for _, c := range commands {
		if c.name == name {
			return report(e, name, c.run(e, args[1:]))
		}
	}
	return report(e, "", usageErrorf("unknown command %q; run \"ucoauth -h\" for the list", name))
}

// report prints err as one line on stderr and returns the exit status.
func report(e *env, name string, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	prefix := "ucoauth: "
	if name != "" {
		prefix = "ucoauth " + name + ": "
	}
	fmt.Fprintln(e.stderr, prefix+oneLine(oneVoice(err.Error())))
	var u *usageError
	switch {
	case errors.As(err, &u):
		return exitUsage
	case errors.Is(err, ucoauth.ErrTokenNotFound), errors.Is(err, ucoauth.ErrReauthorizationRequired):
		return exitConnect
	}
	return exitFailed
}

// oneVoice drops the library's "ucoauth: " from an error's text, at its
// start and where a cause is quoted ("...: ucoauth: ..."): the line already
// starts with "ucoauth <command>: ", and reads better with one prefix.
func oneVoice(s string) string {
	s = strings.TrimPrefix(s, "ucoauth: ")
	for _, sep := range []string{": ", "; ", "\n"} {
		s = strings.ReplaceAll(s, sep+"ucoauth: ", sep)
	}
	return s
}

// oneLine folds a multi-line error (errors.Join) onto one line, and shows
// any other control or invisible character escaped (\x1b): text a server
// sent must not drive the terminal.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
	var b strings.Builder
	for _, r := range s {
		if r == ' ' || unicode.IsPrint(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

// usageError is a command line that cannot work: exit status 2.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// flagSet is a FlagSet whose help goes to stdout (exit 0) and whose parse
// errors become one-line usage errors (exit 2).
type flagSet struct {
	*flag.FlagSet
	e   *env
	out bytes.Buffer
}

func newFlagSet(e *env, name, synopsis, help string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet("ucoauth "+name, flag.ContinueOnError), e: e}
	fs.SetOutput(&fs.out)
	fs.Usage = func() {
		fmt.Fprintf(&fs.out, "Usage: ucoauth %s %s\n\n%s\nFlags:\n", name, synopsis, help)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args. -h prints the help to stdout and returns flag.ErrHelp;
// a bad flag is a usage error, and so is one of the command's flags after
// the arguments (flag parsing stops at the first argument, so "status K
// -json" would take "-json" for a key, "token K -min-validity 1m" for three).
// After "--", anything is an argument.
func (fs *flagSet) parse(args []string) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.out.Reset()
		fs.Usage()
		_, _ = fs.e.stdout.Write(fs.out.Bytes())
		return err
	case err != nil:
		return &usageError{msg: err.Error() + fmt.Sprintf(" (run \"%s -h\")", fs.Name())}
	}
	rest := fs.Args()
	if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
		return nil
	}
	for _, a := range rest {
		name, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if strings.HasPrefix(a, "-") && (fs.Lookup(name) != nil || name == "h" || name == "help") {
			return usageErrorf("flag %q after the arguments: flags go first (run \"%s -h\")", a, fs.Name())
		}
	}
	return nil
}

// set reports whether the flag name was given on the command line.
func (fs *flagSet) set(name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// oneKey returns the single key argument.
func (fs *flagSet) oneKey() (string, error) {
	switch fs.NArg() {
	case 0:
		return "", usageErrorf("a key is required: %s KEY (run \"%s -h\")", fs.Name(), fs.Name())
	case 1:
		if fs.Arg(0) == "" {
			return "", usageErrorf("the key must not be empty")
		}
		return fs.Arg(0), nil
	}
	return "", usageErrorf("one key only, got %d arguments", fs.NArg())
}
