// Command app is folio's command line: migrations, securities and prices,
// portfolios and trades, reports, the HTTP API and a demo. The Makefile
// builds it as bin/folio.
//
// It connects to DATABASE_URL (or --database-url); without one it starts
// the embedded default, a PostgreSQL of its own from the server binaries on
// the machine, with its data in ./.folio. Run "folio --help" for the
// commands; the README documents them, their JSON output and exit codes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/folio-dev/folio/internal/pglocal"
	"github.com/folio-dev/folio/internal/tracker"
	"github.com/folio-dev/folio/internal/uow"

	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	// Without this, a write to a closed pipe (folio demo | head) kills the
	// process on the spot, before the demo removes its throwaway server.
	// Notified, the signal is not acted on and the write fails with EPIPE
	// instead; unlike signal.Ignore, server processes started later do
	// not inherit anything.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	// SIGHUP (the terminal closed) stops a command as Ctrl-C does, so
	// that it cleans up (the demo's throwaway server) rather than die;
	// unless it is ignored (nohup folio serve &), which Notify would undo.
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	ctx, stop := signal.NotifyContext(context.Background(), sigs...)
	// The first signal ends ctx; a second one tells serve to stop waiting
	// for the requests in flight.
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, sigs...)
	hurry := make(chan struct{})
	go func() {
		<-signals
		<-signals
		close(hurry)
	}()
	code := run(withHurry(ctx, hurry), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

type hurryKey struct{}

// withHurry gives ctx a channel that closes when the user insists that
// the command stop (a second Ctrl-C): serve then cuts off the requests it
// was letting finish.
func withHurry(ctx context.Context, hurry <-chan struct{}) context.Context {
	return context.WithValue(ctx, hurryKey{}, hurry)
}

// hurryOf returns ctx's hurry channel, or nil (never).
func hurryOf(ctx context.Context) <-chan struct{} {
	h, _ := ctx.Value(hurryKey{}).(<-chan struct{})
	return h
}

// env is what a command runs with.
type env struct {
	ctx    context.Context
	g      *globals
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	logger *slog.Logger
	// tty: stderr is a terminal, so progress may be shown on it.
	tty bool

	flags *flag.FlagSet // the command's parsed flags
	// changing names what the command changes, such as `portfolio
	// "Growth"`, for the words of an error; "" until the command says.
	changing string
	// long: the command runs until stopped (see command.long).
	long bool

	pool   *pgxpool.Pool
	runner *uow.Runner
	svc    *tracker.Service
	// embedded is the embedded default's server, when the command uses it.
	embedded *pglocal.Server
	// created is the data directory of the cluster this command made, if
	// it made one.
	created string
	// none: the command found nothing to list.
	none bool
	// serving is serve's HTTP server, answering since before the command
	// connected.
	serving *serving
}

// run is the whole program, testable: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	root := commands()
	args = helpAlias(args, valueFlags(root))
	g := &globals{}
	e := &env{ctx: ctx, g: g, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	if f, ok := stderr.(*os.File); ok {
		e.tty = term.IsTerminal(int(f.Fd()))
	}

	// Flags, global or the command's, may come anywhere after the
	// program's name: find the command first, then parse all of them.
	c, path, rest, dangling := resolve(root, args, valueFlags(root))
	cmdName := strings.Join(path[1:], " ") // as the user typed it
	fs := flag.NewFlagSet(strings.Join(path, " "), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.register(fs)
	e.flags = fs

	if len(c.sub) > 0 {
		help := fs.Bool("help", false, "show help")
		fs.BoolVar(help, "h", false, "show help")
		version := new(bool)
		if c == root {
			fs.BoolVar(version, "version", false, "print folio's version")
		}
		pos, err := parse(fs, rest)
		unknownFlagValue := len(pos) > 0 && err != nil && followsUnknownFlag(fs, rest, pos[0])
		switch {
		case len(pos) > 0 && !unknownFlagValue:
			// Also with --help ("folio help bogus"): general help with
			// exit 0 would tell a script the command exists.
			return fail(e, usagef("unknown command %q; run '%s --help'", pos[0], strings.Join(path, " ")), nil)
		case *help || errors.Is(err, flag.ErrHelp):
			printHelp(stdout, c, path, fs)
			return exitOK
		case *version && err == nil && len(pos) == 0 && len(dangling) == 0:
			if err := printVersion(e); err != nil {
				return fail(e, err, c)
			}
			return exitOK
		case len(dangling) > 0:
			return fail(e, danglingError(fs, dangling), c)
		case unknownFlagValue:
			// The word is the value of a flag this command does not know
			// (a misspelled --database-url, say): the flag is what is
			// wrong, and its value is not to be shown.
			return fail(e, flagError(err), c)
		case err != nil:
			return fail(e, flagError(err), c)
		}
		// A group without its command: say what the commands are, as a
		// usage error.
		printHelp(stderr, c, path, fs)
		return exitUsage
	}

	if c.flags != nil {
		c.flags(fs)
	}
	pos, err := parse(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout, c, path, fs)
		return exitOK
	}
	if err := danglingError(fs, dangling); err != nil {
		return fail(e, err, c)
	}
	if err != nil {
		return fail(e, flagError(err), c)
	}
	if c.nargs >= 0 && len(pos) != c.nargs {
		return fail(e, usagef("%s takes %s, got %d", cmdName, arguments(c), len(pos)), c)
	}
	if err := refuseEmpty(fs); err != nil {
		return fail(e, err, c)
	}
	for _, name := range c.required {
		if fs.Lookup(name).Value.String() == "" {
			return fail(e, usagef("--%s is required", name), c)
		}
	}

	switch {
	case g.verbose:
		e.logger = newLogger(stderr, slog.LevelDebug, g.json)
	case g.json:
		e.logger = newLogger(stderr, slog.LevelWarn, true)
	default:
		e.logger = slog.New(newNoteHandler(stderr))
	}

	if c.prepare != nil {
		cleanup, err := c.prepare(e)
		if err != nil {
			return fail(e, err, nil)
		}
		defer cleanup()
	}
	var closeDB func()
	if c.needsDB {
		e.long = c.long
		closeDB, err = e.connect(!c.noSchema)
		if err != nil {
			if c.long && stopped(e) && cancellation(err) {
				// A signal is how serve is stopped, also while it
				// starts: no error, as when it stops serving.
				return exitOK
			}
			return fail(e, err, nil)
		}
		defer func() {
			if closeDB != nil { // a panic in the command
				closeDB()
			}
		}()
	}
	err = c.run(e, pos)
	if closeDB != nil {
		// Before the error: stopping the embedded server logs (with
		// --verbose), and a failed command's last line is its error.
		closeDB()
		closeDB = nil
	}
	if err != nil {
		return fail(e, err, c)
	}
	if e.none {
		noteNewCluster(e)
	}
	return exitOK
}

// helpAlias reads "folio help portfolio create" as "folio --help portfolio
// create": help in the place of the first command word, after any global
// flags (and their values) and before any "--", asks for the help of the
// command the words after it name.
func helpAlias(args []string, valued map[string]bool) []string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return args
		case isFlag(a):
			if name, hasValue := flagName(a); valued[name] && !hasValue {
				i++ // its value
			}
		case a == "help":
			out := slices.Clone(args)
			out[i] = "--help"
			return out
		default:
			return args
		}
	}
	return args
}

// arguments says how many positional arguments c takes, and which.
func arguments(c *command) string {
	switch c.nargs {
	case 0:
		return "no arguments"
	case 1:
		return fmt.Sprintf("1 argument (%s)", c.args)
	}
	return fmt.Sprintf("%d arguments (%s)", c.nargs, c.args)
}
