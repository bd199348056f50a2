package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/folio-dev/folio/internal/domain"
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
	// prepare, if set, runs before the command connects: what can fail
	// without a database fails before one is started or waited for. Its
	// cleanup runs after the command.
	prepare  func(e *env) (cleanup func(), err error)
	needsDB  bool // connect before running
	noSchema bool // with needsDB: do not migrate the embedded default first
	// long: runs until stopped. On the embedded default it waits for a
	// server another folio started to stop, and starts its own, rather than
	// join one that goes away when that folio ends.
	long bool
}

// errUsage marks a command line that does not parse; the message says why.
var errUsage = errors.New("usage")

type usageError struct{ msg string }

func (e *usageError) Error() string   { return e.msg }
func (e *usageError) Is(t error) bool { return t == errUsage }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// globals are the flags every command takes, anywhere after the program's
// name.
type globals struct {
	databaseURL string
	dataDir     string
	json        bool
	verbose     bool
}

// register adds the global flags to fs. Their defaults stay empty: --help
// prints defaults, and a connection string must never appear there with
// its password.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.databaseURL, "database-url", "",
		"PostgreSQL connection string (default: $DATABASE_URL, else the embedded default)")
	fs.StringVar(&g.dataDir, "data-dir", "",
		"data directory of the embedded default (default: $FOLIO_DATA_DIR, else ./.folio)")
	fs.BoolVar(&g.json, "json", false, "print data as JSON, and log in JSON lines (serve's request log)")
	fs.BoolVar(&g.verbose, "verbose", false, "log every statement with its duration, and each unit's round trips")
}

// emptyValues says what an explicitly empty value of each flag that takes
// a value is: allowed when empty means something (a search that every name
// matches, as without --search), else refused with a hint. Most would
// otherwise quietly mean the default (--date= today, --database-url= the
// variable), and --addr= every interface on port 80.
var emptyValues = map[string]struct {
	allowed bool
	// usage: a setting of the program (exit 2), not a value of the data
	// (exit 3).
	usage bool
	hint  string
}{
	"search":       {allowed: true},
	"date":         {hint: "give a date as YYYY-MM-DD, or leave the flag out for today"},
	"price":        {hint: "give the price per share"},
	"name":         {hint: "give the security's name"},
	"currency":     {hint: "give a three-letter code such as EUR, or leave the flag out for USD"},
	"addr":         {usage: true, hint: "give host:port, or leave the flag out for 127.0.0.1:8080"},
	"dir":          {usage: true, hint: "give a directory, or leave the flag out for sql/schema"},
	"data-dir":     {usage: true, hint: "give a directory, or leave the flag out for $FOLIO_DATA_DIR or ./.folio"},
	"database-url": {usage: true, hint: "give a connection string, or leave the flag out for $DATABASE_URL or the embedded default"},
}

// blankRefused are the settings whose value may not be white space alone
// either (env.setting refuses it in their variables).
var blankRefused = map[string]bool{"data-dir": true, "database-url": true}

// refuseEmpty returns the error of the first flag given explicitly with an
// empty value that emptyValues does not allow, or with a blank one that
// blankRefused names.
func refuseEmpty(fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if err != nil {
			return
		}
		ev, known := emptyValues[f.Name]
		if v := f.Value.String(); v != "" {
			if blankRefused[f.Name] && strings.TrimSpace(v) == "" {
				err = usagef("--%s must not be blank: %s", f.Name, ev.hint)
			}
			return
		}
		switch {
		case ev.allowed:
		case !known:
			err = reword(fmt.Sprintf("--%s must not be empty: give a value, or leave the flag out", f.Name), domain.ErrInvalid)
		case ev.usage:
			err = usagef("--%s must not be empty: %s", f.Name, ev.hint)
		default:
			err = reword(fmt.Sprintf("--%s must not be empty: %s", f.Name, ev.hint), domain.ErrInvalid)
		}
	})
	return err
}

// numberLike matches a negative number, which is a positional argument (a
// quantity), not a flag.
var numberLike = regexp.MustCompile(`^-[0-9.]`)

// isFlag reports whether a word of the command line is a flag: "-x",
// "--x" or "--x=v", but not "-" (standard input), "--" (the end of the
// flags) or a negative number.
func isFlag(a string) bool {
	return len(a) >= 2 && a[0] == '-' && a != "--" && !numberLike.MatchString(a)
}

// spelling is a flag as the user typed it, without its value: -x, --x.
func spelling(a string) string {
	spelled, _, _ := strings.Cut(a, "=")
	return spelled
}

// followsUnknownFlag reports whether word comes right after a flag fs does
// not know, given without "=value": then it is that flag's value.
func followsUnknownFlag(fs *flag.FlagSet, args []string, word string) bool {
	for i := 1; i < len(args); i++ {
		if args[i] == word {
			name, hasValue := flagName(args[i-1])
			return isFlag(args[i-1]) && !hasValue && fs.Lookup(name) == nil
		}
	}
	return false
}

// flagName returns a flag's name and whether its value is in the same word.
func flagName(a string) (string, bool) {
	name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
	return name, hasValue
}

// parse parses flags and positional arguments in any order, like most
// command-line tools (the flag package alone stops at the first positional
// argument). "--" ends the flags, so a portfolio named "-x" can be given.
// The positional arguments are returned also when the flags do not parse.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, pos, valued []string
	// Flags as the user typed them, for the flag package's messages,
	// which spell them with one dash: the first of an unknown flag (the
	// one it reports), the last of a known one (only the last can lack
	// its value).
	spelled := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !isFlag(a) {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name, hasValue := flagName(a)
		f := fs.Lookup(name)
		if f == nil {
			// fs.Parse reports unknown flags and -h in its words.
			if _, seen := spelled[name]; !seen {
				spelled[name] = spelling(a)
			}
			continue
		}
		spelled[name] = spelling(a)
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		valued = append(valued, f.Name)
		if !hasValue && i+1 < len(args) {
			next := args[i+1]
			if next == "--" {
				// "--price -- 1": the value was forgotten, or meant to
				// be "--", which goes in the same word, --price=--.
				return pos, usagef("flag needs an argument: %s (the -- after it ends the flags; write %s=-- for a value of --)",
					spelling(a), spelling(a))
			}
			if isFlag(next) {
				// "--name --json": the value was forgotten, and taking
				// the next flag for it would store a security called
				// "--json", or blame the wrong word. A value that starts
				// with a dash goes in the same word, --name=-x. "--name
				// --help" asks for help, and gets it.
				if name, _ := flagName(next); name == "help" || name == "h" {
					return pos, flag.ErrHelp
				}
				return pos, usagef("flag needs an argument: %s (%s after it is a flag; write %s=VALUE for a value that starts with -)",
					spelling(a), spelling(next), spelling(a))
			}
			i++
			flags = append(flags, args[i])
		}
	}
	if err := fs.Parse(flags); err != nil {
		for _, prefix := range []string{"flag provided but not defined: ", "flag needs an argument: "} {
			if name, ok := strings.CutPrefix(err.Error(), prefix+"-"); ok && spelled[name] != "" {
				return pos, usagef("%s%s", prefix, spelled[name])
			}
		}
		return pos, err
	}
	// The flag package keeps the last of a repeated flag, and "--price 1
	// --price 2" is more likely a slip than a change of mind, with a trade
	// at the wrong price as its cost. A repeated boolean (--json --json)
	// means the same either way.
	for i, name := range valued {
		if slices.Contains(valued[:i], name) {
			return pos, usagef("--%s is given more than once; give it once", name)
		}
	}
	return pos, nil
}

// valueFlags returns the names of the flags, global or of any command, that
// take a value: what resolve needs to know to step over a flag's value
// before it knows which command the flag belongs to.
func valueFlags(root *command) map[string]bool {
	names := map[string]bool{}
	add := func(fs *flag.FlagSet) {
		fs.VisitAll(func(f *flag.Flag) {
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
				names[f.Name] = true
			}
		})
	}
	global := flag.NewFlagSet("", flag.ContinueOnError)
	(&globals{}).register(global)
	add(global)
	var walk func(c *command)
	walk = func(c *command) {
		if c.flags != nil {
			fs := flag.NewFlagSet("", flag.ContinueOnError)
			c.flags(fs)
			add(fs)
		}
		for _, s := range c.sub {
			walk(s)
		}
	}
	walk(root)
	return names
}

// resolve finds the command args name, with flags anywhere among its
// words ("folio price --json set", "folio --date D price set"): it walks
// the tree along the words that are not flags or flags' values, and
// returns the command reached, its path from the root, and args without
// the words of the path, for the command to parse. It stops at the first
// word that names no command of a group, which stays in what it returns.
//
// A flag that takes a value takes the word after it (parse refuses one
// that is a flag), unless it would leave the command line short of a
// command: then the
// word is taken for the command it names ("folio --date price set AAPL 1",
// "folio portfolio --name list"), and the flag is returned among dangling,
// left out of the rest, for run to say what is wrong with it rather than
// that the next word is no command.
func resolve(root *command, args []string, valued map[string]bool) (c *command, path, rest []string, dangling []dangler) {
	c, path, rest, _ = walk(root, args, valued, false)
	if len(c.sub) == 0 {
		return c, path, rest, nil
	}
	if c2, path2, rest2, d := walk(root, args, valued, true); len(d) > 0 {
		return c2, path2, rest2, d
	}
	return c, path, rest, nil
}

// dangler is a flag that needs a value, followed by the name of a command.
type dangler struct{ name, spelled, next string }

// walk is resolve's walk along the words. With commandsFirst, a flag's
// value is never a word that names a subcommand of the group reached: such
// flags come back as dangling instead.
func walk(root *command, args []string, valued map[string]bool, commandsFirst bool) (*command, []string, []string, []dangler) {
	c, path := root, []string{root.name}
	var rest []string
	var dangling []dangler
	ended := false // after "--", no word is a flag
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(c.sub) == 0 {
			rest = append(rest, args[i:]...)
			break
		}
		if !ended && a == "--" {
			ended = true
			rest = append(rest, a)
			continue
		}
		if !ended && isFlag(a) {
			name, hasValue := flagName(a)
			if !valued[name] || hasValue || i+1 == len(args) {
				rest = append(rest, a)
				continue
			}
			if commandsFirst && c.child(args[i+1]) != nil {
				dangling = append(dangling, dangler{name, spelling(a), args[i+1]})
				continue
			}
			rest = append(rest, a, args[i+1])
			i++
			continue
		}
		next := c.child(a)
		if next == nil {
			rest = append(rest, args[i:]...)
			break
		}
		c, path = next, append(path, next.name)
	}
	return c, path, rest, dangling
}

// danglingError says what is wrong with the first flag resolve found
// dangling, for the command whose flags fs holds: it is none of them, or
// it is and has no value.
func danglingError(fs *flag.FlagSet, dangling []dangler) error {
	if len(dangling) == 0 {
		return nil
	}
	d := dangling[0]
	if fs.Lookup(d.name) == nil {
		return usagef("flag provided but not defined: %s", d.spelled)
	}
	return usagef("flag needs an argument: %s (%q after it is the command)", d.spelled, d.next)
}

// child returns the subcommand called name, or nil.
func (c *command) child(name string) *command {
	for _, s := range c.sub {
		if s.name == name {
			return s
		}
	}
	return nil
}

func printHelp(w io.Writer, c *command, path []string, fs *flag.FlagSet) {
	name := strings.Join(path, " ")
	if len(c.sub) > 0 {
		fmt.Fprintf(w, "Usage: %s COMMAND [arguments] [flags]\n\n", name)
		if c.help != "" {
			fmt.Fprintf(w, "%s\n\n", c.help)
		}
		fmt.Fprintln(w, "Commands:")
		printCommands(w, c, "  ")
		fmt.Fprintf(w, "\nRun '%s COMMAND --help' (or 'folio help %s') for the flags of a command.\n",
			name, strings.Join(append(slices.Clone(path[1:]), "COMMAND"), " "))
		if fs != nil {
			fmt.Fprintln(w, "\nFlags of every command:")
			printFlags(w, fs, "version")
			if fs.Lookup("version") != nil {
				fmt.Fprintf(w, "\nFlags of '%s' alone:\n", name)
				printFlags(w, fs, "database-url", "data-dir", "help", "json", "verbose")
			}
		}
		return
	}
	fmt.Fprintf(w, "Usage: %s %s[flags]\n\n%s\n", name, withSpace(c.usage()), c.summary)
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", c.help)
	}
	if fs != nil {
		fmt.Fprintln(w, "\nFlags:")
		printFlags(w, fs)
	}
}

// printFlags lists the flags as the README and error messages spell them,
// with two dashes (one works too), in the layout of flag.PrintDefaults,
// leaving out those named in skip.
func printFlags(w io.Writer, fs *flag.FlagSet, skip ...string) {
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "h" || slices.Contains(skip, f.Name) { // h: listed with --help
			return
		}
		name := "--" + f.Name
		if f.Name == "help" && fs.Lookup("h") != nil {
			name = "-h, --help"
		}
		typ, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  %s", name)
		if typ != "" {
			fmt.Fprintf(w, " %s", typ)
		}
		fmt.Fprintf(w, "\n    \t%s", strings.ReplaceAll(usage, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "false" {
			fmt.Fprintf(w, " (default %q)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

func printCommands(w io.Writer, c *command, indent string) {
	for _, s := range c.sub {
		if len(s.sub) > 0 {
			for _, ss := range s.sub {
				line := strings.TrimSpace(s.name + " " + ss.name + " " + ss.usage())
				fmt.Fprintf(w, "%s%-44s %s\n", indent, line, ss.summary)
			}
			continue
		}
		fmt.Fprintf(w, "%s%-44s %s\n", indent, strings.TrimSpace(s.name+" "+s.usage()), s.summary)
	}
}

// usage is what follows a command's name in its usage line: its
// arguments, then the flags it requires, such as --price PRICE.
func (c *command) usage() string {
	u := c.args
	for _, name := range c.required {
		u = strings.TrimSpace(u + " --" + name + " " + strings.ToUpper(name))
	}
	return u
}

func withSpace(s string) string {
	if s == "" {
		return ""
	}
	return s + " "
}

// flagMessages are the flag package's messages, with the flag's name where
// it puts it: after the colon of the first two, after " for " (" for
// flag ") at the end of the last, after a value the user typed.
var flagMessages = []*regexp.Regexp{
	regexp.MustCompile(`^(flag provided but not defined: )-(\S+)$`),
	regexp.MustCompile(`^(flag needs an argument: )-(\S+)$`),
	regexp.MustCompile(`^(invalid (?:boolean )?value ".*" for (?:flag )?)-([^\s:]+)(: .*)?$`),
}

// badSyntax is the flag package's message for a word such as ---x=value
// or --=value, which it quotes whole, value and all.
var badSyntax = regexp.MustCompile(`^bad flag syntax: (.*)$`)

// flagError is the usage error for a flag the flag package refused, with
// the flag spelled as --help and the README spell it.
func flagError(err error) error {
	var usage *usageError
	if errors.As(err, &usage) {
		return err // worded already
	}
	msg := err.Error()
	if m := badSyntax.FindStringSubmatch(msg); m != nil {
		return usagef("bad flag syntax: %s", spelling(m[1]))
	}
	for _, re := range flagMessages {
		if re.MatchString(msg) {
			msg = re.ReplaceAllString(msg, "$1--$2$3")
			break
		}
	}
	return usagef("%s", msg)
}
