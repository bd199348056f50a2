// Command app is folio's command line: migrations, securities and prices,
// portfolios and trades, reports, the HTTP API and a demo. The Makefile
// builds it as bin/folio.
//
// It connects to DATABASE_URL (or --database-url); without one it starts
// the embedded default, a PostgreSQL of its own from the server binaries on
// the machine, with its data in ./.folio. Run "app --help" for the
// commands; the README documents them, their JSON output and exit codes.
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/folio-dev/folio/internal/tracker"
	"github.com/folio-dev/folio/internal/uow"

	"github.com/jackc/pgx/v5/pgxpool"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
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

	pool   *pgxpool.Pool
	runner *uow.Runner
	svc    *tracker.Service
}

// run is the whole program, testable: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	root := commands()
	g := &globals{}
	e := &env{ctx: ctx, g: g, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	if f, ok := stderr.(*os.File); ok {
		e.tty = term.IsTerminal(int(f.Fd()))
	}

	// Global flags may come before the command's name too.
	rootFlags := flag.NewFlagSet("folio", flag.ContinueOnError)
	rootFlags.SetOutput(io.Discard)
	g.register(rootFlags)
	help := rootFlags.Bool("help", false, "show help")
	rootFlags.BoolVar(help, "h", false, "show help")
	if err := rootFlags.Parse(args); err != nil {
		return fail(e, usagef("%v", err), nil)
	}
	args = rootFlags.Args()

	c, rest, path := find(root, args)
	if len(c.sub) > 0 && len(rest) > 0 && strings.HasPrefix(rest[0], "-") {
		// Flags between a group's name and its command's, as in
		// "folio portfolio --help" or "folio portfolio --json list".
		pos, err := parse(rootFlags, rest)
		if err != nil {
			return fail(e, usagef("%v", err), nil)
		}
		c, rest, path = find(root, slices.Concat(path[1:], pos))
	}
	if len(c.sub) > 0 {
		if *help {
			printHelp(stdout, c, path, rootFlags)
			return exitOK
		}
		if len(rest) == 0 {
			// A group without its command: say what the commands are,
			// as a usage error.
			printHelp(stderr, c, path, rootFlags)
			return exitUsage
		}
		return fail(e, usagef("unknown command %q; run '%s --help'", rest[0], joinPath(path)), nil)
	}

	fs := flag.NewFlagSet(joinPath(path), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.register(fs)
	if c.flags != nil {
		c.flags(fs)
	}
	e.flags = fs
	pos, err := parse(fs, rest)
	if errors.Is(err, flag.ErrHelp) || *help {
		printHelp(stdout, c, path, fs)
		return exitOK
	}
	if err != nil {
		return fail(e, usagef("%v", err), c)
	}
	if c.nargs >= 0 && len(pos) != c.nargs {
		return fail(e, usagef("%s takes %d argument(s) (%s), got %d", joinPath(path), c.nargs, c.args, len(pos)), c)
	}
	for _, name := range c.required {
		if fs.Lookup(name).Value.String() == "" {
			return fail(e, usagef("--%s is required", name), c)
		}
	}

	level := slog.LevelWarn
	if g.verbose {
		level = slog.LevelDebug
	}
	e.logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	if c.needsDB {
		closeDB, err := e.connect(!c.noSchema)
		if err != nil {
			return fail(e, err, nil)
		}
		defer closeDB()
	}
	if err := c.run(e, pos); err != nil {
		return fail(e, err, c)
	}
	return exitOK
}

func joinPath(path []string) string {
	s := path[0]
	for _, p := range path[1:] {
		s += " " + p
	}
	return s
}
