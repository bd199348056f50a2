package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// A command is a node of the command tree: a group (with subcommands) or a
// leaf that runs.
type command struct {
	name     string
	args     string // synopsis of the positional arguments, e.g. "NAME NEW_NAME"
	summary  string // one line for the command list
	help     string // paragraph for --help
	nargs    int    // positional arguments required (-1: any)
	sub      []*command
	flags    func(fs *flag.FlagSet) // leaf flags
	required []string               // leaf flags that must be given, checked before connecting
	run      func(e *env, args []string) error
	needsDB  bool // connect before running
	noSchema bool // with needsDB: do not migrate the embedded default first
}

// errUsage marks a command line that does not parse; the message says why.
var errUsage = errors.New("usage")

type usageError struct{ msg string }

func (e *usageError) Error() string   { return e.msg }
func (e *usageError) Is(t error) bool { return t == errUsage }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// globals are the flags every command takes, before or after its name.
type globals struct {
	databaseURL string
	dataDir     string
	json        bool
	verbose     bool
}

// register adds the global flags to fs. Values already parsed (from flags
// before the command's name) are kept, but the flags' defaults stay empty:
// --help prints defaults, and a connection string given before the
// command's name must not appear there with its password.
func (g *globals) register(fs *flag.FlagSet) {
	saved := *g
	fs.StringVar(&g.databaseURL, "database-url", "",
		"PostgreSQL connection string (default: $DATABASE_URL, else the embedded default)")
	fs.StringVar(&g.dataDir, "data-dir", "",
		"data directory of the embedded default (default: $FOLIO_DATA_DIR, else ./.folio)")
	fs.BoolVar(&g.json, "json", false, "print data as JSON")
	fs.BoolVar(&g.verbose, "verbose", false, "log every statement with its duration, and each unit's round trips")
	*g = saved
}

// numberLike matches a negative number, which is a positional argument (a
// quantity), not a flag.
var numberLike = regexp.MustCompile(`^-[0-9.]`)

// parse parses flags and positional arguments in any order, like most
// command-line tools (the flag package alone stops at the first positional
// argument). "--" ends the flags, so a portfolio named "-x" can be given.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' || numberLike.MatchString(a) {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(name)
		if f == nil || hasValue {
			continue // fs.Parse reports unknown flags and -h in its words
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	if err := fs.Parse(flags); err != nil {
		return nil, err
	}
	return pos, nil
}

// find walks the tree along args and returns the leaf and what is left.
func find(root *command, args []string) (*command, []string, []string) {
	c, path := root, []string{root.name}
	for len(c.sub) > 0 && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		var next *command
		for _, s := range c.sub {
			if s.name == args[0] {
				next = s
			}
		}
		if next == nil {
			break
		}
		c, args, path = next, args[1:], append(path, next.name)
	}
	return c, args, path
}

func printHelp(w io.Writer, c *command, path []string, fs *flag.FlagSet) {
	name := strings.Join(path, " ")
	if len(c.sub) > 0 {
		fmt.Fprintf(w, "Usage: %s COMMAND [flags]\n\n", name)
		if c.help != "" {
			fmt.Fprintf(w, "%s\n\n", c.help)
		}
		fmt.Fprintln(w, "Commands:")
		printCommands(w, c, "  ")
		fmt.Fprintf(w, "\nRun '%s COMMAND --help' for the flags of a command.\n", name)
		if fs != nil {
			fmt.Fprintln(w, "\nFlags of every command:")
			fs.SetOutput(w)
			fs.PrintDefaults()
		}
		return
	}
	fmt.Fprintf(w, "Usage: %s %s[flags]\n\n%s\n", name, withSpace(c.args), c.summary)
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", c.help)
	}
	if fs != nil {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

func printCommands(w io.Writer, c *command, indent string) {
	for _, s := range c.sub {
		if len(s.sub) > 0 {
			for _, ss := range s.sub {
				line := strings.TrimSpace(s.name + " " + ss.name + " " + ss.args)
				fmt.Fprintf(w, "%s%-42s %s\n", indent, line, ss.summary)
			}
			continue
		}
		fmt.Fprintf(w, "%s%-42s %s\n", indent, strings.TrimSpace(s.name+" "+s.args), s.summary)
	}
}

func withSpace(s string) string {
	if s == "" {
		return ""
	}
	return s + " "
}
