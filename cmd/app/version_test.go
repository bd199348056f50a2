package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	c := &cli{}
	// The test binary is built without VCS stamping: "(devel)" with no
	// commit. A `make build` in a checkout adds the pseudo-version and the
	// commit.
	out := c.ok(t, "--version")
	assert.Regexp(t, `^folio (\(devel\)|v\S+)( \(commit [0-9a-f]{12}(, with uncommitted changes)?\))?, `+regexp.QuoteMeta(runtime.Version())+"\n$", out)
	var v map[string]any
	c.okJSON(t, &v, "--version")
	assert.Equal(t, runtime.Version(), v["go"])
	assert.NotEmpty(t, v["version"])
	_, revision := v["revision"]
	_, modified := v["modified"]
	assert.Equal(t, revision, modified, "modified comes with the commit, false too: %v", v)

	// Only the program takes it, and with nothing else.
	assert.Contains(t, c.fails(t, 2, "portfolio", "--version"), "flag provided but not defined: --version")
	assert.Contains(t, c.fails(t, 2, "--version", "list"), `unknown command "list"`)
}

// A stamped build names its commit and says whether the tree had changes,
// false included: JSON readers find the same members in every such build.
func TestVersionOfAStampedBuild(t *testing.T) {
	t.Parallel()
	for _, modified := range []string{"false", "true"} {
		bi := &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261126120000-5c0de06a1b2c"}, Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "5c0de06a1b2c3d4e5f60718293a4b5c6d7e8f901"}, {Key: "vcs.modified", Value: modified},
		}}
		b, err := json.Marshal(versionOf(bi))
		require.NoError(t, err)
		assert.JSONEq(t, `{"version":"v0.0.0-20261126120000-5c0de06a1b2c","revision":"5c0de06a1b2c3d4e5f60718293a4b5c6d7e8f901","modified":`+modified+`,"go":"`+runtime.Version()+`"}`, string(b))
	}
	b, err := json.Marshal(versionOf(&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}))
	require.NoError(t, err)
	assert.JSONEq(t, `{"version":"(devel)","go":"`+runtime.Version()+`"}`, string(b))
}

// Help spells every flag with two dashes, as the README and the messages
// do, and lists the command's own flags with the global ones.
func TestHelpSpellsFlagsWithTwoDashes(t *testing.T) {
	t.Parallel()
	c := &cli{}
	for _, args := range [][]string{{"--help"}, {"buy", "--help"}, {"serve", "--help"}, {"migrate", "create", "--help"}} {
		out := c.ok(t, args...)
		var flags []string
		for _, l := range lines(out) {
			if strings.HasPrefix(l, "  -") {
				flags = append(flags, strings.Fields(l)[0])
			}
		}
		require.NotEmpty(t, flags, "%v:\n%s", args, out)
		for _, f := range flags {
			assert.Regexp(t, `^(--[a-z-]+|-h,)$`, f, "%v", args)
		}
		assert.Contains(t, out, "  --database-url string\n", args)
	}
	assert.Contains(t, c.ok(t, "--help"), "  -h, --help\n    \tshow help\n")
	// --version is the program's alone, and listed so.
	every, alone, ok := strings.Cut(c.ok(t, "--help"), "\nFlags of 'folio' alone:\n")
	require.True(t, ok)
	assert.NotContains(t, every, "--version")
	assert.Equal(t, "  --version\n    \tprint folio's version\n", alone)
	assert.NotContains(t, c.ok(t, "portfolio", "--help"), "--version")
	assert.Contains(t, c.ok(t, "serve", "--help"), "  --addr host:port\n    \thost:port to listen on (default \"127.0.0.1:8080\")\n")
	assert.Contains(t, c.ok(t, "buy", "--help"), "  --price string\n")
}

// A connection string that names no database connects to the database of
// the user's name, and the message says so rather than database "".
func TestConnectFailureNamesTheDatabaseUsed(t *testing.T) {
	t.Parallel()
	c := &cli{url: "host=" + t.TempDir() + " user=bob connect_timeout=5"}
	stderr := c.fails(t, 1, "portfolio", "list")
	assert.Contains(t, stderr, `folio: cannot connect to PostgreSQL (host `)
	assert.Contains(t, stderr, `, database "bob", user "bob"): `)
}

// pgx tries a TCP server twice (TLS, then not): the refusal is said once.
func TestConnectRefusedIsSaidOnce(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	c := &cli{url: "postgres://u:S3cretPw@" + addr + "/db?connect_timeout=5"}
	stderr := c.fails(t, 1, "portfolio", "list")
	assert.Equal(t, 1, strings.Count(stderr, "connection refused"), "%s", stderr)
	assert.NotContains(t, stderr, "S3cretPw")
}

// A server without TLS refuses pgx's first try (sslmode=prefer), and
// fails the second for a wrong password: the message gives that reason
// alone, not the expected refusal before it, nor the address again. The
// listener speaks just the start of the protocol: it has no TLS, and
// answers every login as a server does a wrong password.
func TestConnectFailureGivesTheReason(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				be := pgproto3.NewBackend(conn, conn)
				for {
					msg, err := be.ReceiveStartupMessage()
					if err != nil {
						return
					}
					switch msg.(type) {
					case *pgproto3.SSLRequest:
						if _, err := conn.Write([]byte("N")); err != nil {
							return
						}
					case *pgproto3.StartupMessage:
						be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", Code: "28P01",
							Message: `password authentication failed for user "u"`})
						_ = be.Flush()
						return
					default:
						return
					}
				}
			}()
		}
	}()
	addr := ln.Addr().(*net.TCPAddr)
	c := &cli{url: "postgres://u:S3cretPw@" + addr.String() + "/db?connect_timeout=5"}
	stderr := c.fails(t, 1, "portfolio", "list")
	assert.Equal(t, "folio: cannot connect to PostgreSQL (host 127.0.0.1, port "+strconv.Itoa(addr.Port)+
		`, database "db", user "u"): server error: password authentication failed for user "u"`+"\n", stderr)
}

// The first use of a data directory (or a mistyped --data-dir) says that
// it made a new cluster, on a terminal; later runs on it say nothing.
func TestNewClusterIsAnnouncedOnATerminal(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(reachableDir(t), "typo")
	for i, want := range []string{
		"folio: created a new database cluster in " + filepath.Join(dir, "pgdata") + "\n",
		"",
	} {
		var stderr bytes.Buffer
		e := &env{ctx: t.Context(), g: &globals{dataDir: dir}, stderr: &stderr, tty: true,
			getenv: func(string) string { return "" }, logger: slog.New(slog.DiscardHandler)}
		srv, _, err := e.startEmbedded()
		require.NoError(t, err, "start %d", i)
		require.NoError(t, srv.Stop(context.Background()))
		assert.Equal(t, want, stderr.String(), "start %d", i)
	}
}

// A search PostgreSQL could not even read is invalid input (exit 3), not a
// database failure.
func TestSearchThatIsNotText(t *testing.T) {
	t.Parallel()
	c, _ := newCLI(t)
	for _, s := range []string{"\xff", "a\x00b"[:1] + "\xc3"} {
		stderr := c.fails(t, 3, "portfolio", "list", "--search", s)
		assert.Contains(t, stderr, "list portfolios: invalid search text: it must be UTF-8 text without NUL bytes")
	}
}

// An empty file name, or a directory's, is a mistake in the command line,
// said as such.
func TestImportOfAnEmptyFileNameOrADirectory(t *testing.T) {
	t.Parallel()
	c, _ := newCLI(t)
	c.ok(t, "portfolio", "create", "T")
	want := "folio: the file name is empty: give a CSV file, or - for standard input\n"
	assert.Equal(t, want, c.fails(t, 3, "trade", "import", "T", ""))
	assert.Equal(t, want, c.fails(t, 3, "price", "import", ""))
	dir := t.TempDir()
	want = "folio: " + dir + " is a directory: give a CSV file, or - for standard input\n"
	assert.Equal(t, want, c.fails(t, 3, "trade", "import", "T", dir))
	assert.Equal(t, want, c.fails(t, 3, "price", "import", dir))

	// A name that is no text is quoted, as %q would.
	bad := filepath.Join(dir, "\xff\tx.csv")
	assert.Equal(t, "folio: no such file: "+strconv.Quote(bad)+"\n", c.fails(t, 4, "price", "import", bad))
	require.NoError(t, os.Mkdir(bad, 0o755))
	assert.Equal(t, "folio: "+strconv.Quote(bad)+" is a directory: give a CSV file, or - for standard input\n",
		c.fails(t, 3, "price", "import", bad))

	// A path through a file is no file either; a name too long for the
	// system is a mistake in the command line.
	file := filepath.Join(dir, "prices.csv")
	require.NoError(t, os.WriteFile(file, []byte("AAPL,2024-01-02,1\n"), 0o644))
	assert.Equal(t, "folio: no such file: "+file+"/x.csv\n", c.fails(t, 4, "price", "import", file+"/x.csv"))
	long := strings.Repeat("a", 300) + ".csv"
	assert.Equal(t, "folio: the file name is too long for the system (304 bytes): give a CSV file, or - for standard input\n",
		c.fails(t, 3, "price", "import", long))
}

// Flag errors name the flag with two dashes, and leave what the user typed
// as it was.
func TestFlagErrorsKeepTheValueTyped(t *testing.T) {
	t.Parallel()
	c := &cli{}
	assert.Equal(t, "folio: invalid boolean value \"a: -b\" for --json: parse error\nRun with --help for usage.\n",
		c.fails(t, 2, "portfolio", "list", "--json=a: -b"))
	assert.Equal(t, "folio: flag provided but not defined: --nope\nRun with --help for usage.\n",
		c.fails(t, 2, "portfolio", "list", "--nope"))
}

// Without --verbose or --json, what a command logs is written as its other
// notes are: one line each, no time or level, the launcher's package name
// left out, attributes after the message.
func TestLogsAreNotes(t *testing.T) {
	var out bytes.Buffer
	l := slog.New(newNoteHandler(&out))
	l.Info("not shown")
	l.Warn("pglocal: stopping the server on /tmp/x y takes a while", "pid", 42)
	l.With("data_dir", "/tmp/a b").WithGroup("g").Warn("two\nlines", "err", "", "n", 1)
	l.Error("pglocal: failed", slog.Group("g", "k", `a"b`))
	assert.Equal(t, "folio: note: stopping the server on /tmp/x y takes a while pid=42\n"+
		`folio: note: two; lines data_dir="/tmp/a b" g.err="" g.n=1`+"\n"+
		`folio: warning: failed g.k="a\"b"`+"\n", out.String())
}
