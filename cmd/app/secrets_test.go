package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/pgtest"
)

const secret = "S3cretPw"

var (
	logLine       = regexp.MustCompile(`^time=\S+ level=DEBUG msg=(\w+) `)
	statementLine = regexp.MustCompile(`^time=\S+ level=DEBUG msg=statement sql=("[^"]*(\\"[^"]*)*"|\S+) round_trip=\d+ duration=\d+(\.\d+)?(ns|µs|ms|s)( tag=.*)?$`)
	unitLine      = regexp.MustCompile(`^time=\S+ level=DEBUG msg=unit read_only=(true|false) attempts=1 statements=(\d+) round_trips=(\d+) duration=\S+$`)
)

// verboseLog checks the --verbose log on stderr: every line a log line,
// one per statement, and a summary per unit whose statement counts add up
// to the statement lines. It returns the SQL of the statements.
func verboseLog(t *testing.T, stderr string) []string {
	t.Helper()
	var stmts []string
	units, counted := 0, 0
	for _, l := range lines(stderr) {
		m := logLine.FindStringSubmatch(l)
		require.NotNil(t, m, "not a log line: %q", l)
		switch m[1] {
		case "statement":
			sm := statementLine.FindStringSubmatch(l)
			require.NotNil(t, sm, "statement line: %q", l)
			stmts = append(stmts, sm[1])
		case "unit":
			um := unitLine.FindStringSubmatch(l)
			require.NotNil(t, um, "unit line: %q", l)
			n, _ := strconv.Atoi(um[2])
			trips, _ := strconv.Atoi(um[3])
			assert.LessOrEqual(t, trips, n)
			counted += n
			units++
		}
	}
	require.Positive(t, units, "no unit summary in\n%s", stderr)
	assert.Equal(t, counted, len(stmts), "one line per statement:\n%s", stderr)
	return stmts
}

func TestVerbose(t *testing.T) {
	t.Parallel()
	c, _ := newCLI(t)
	c.ok(t, "security", "add", "AAPL", "--name", "Apple")
	c.ok(t, "portfolio", "create", "Main")

	r := c.run(t, "portfolio", "list", "--verbose")
	require.Equal(t, 0, r.code, "%v", r)
	assert.Equal(t, []string{"NAME  CURRENCY  LOTS  COST BASIS", "Main  USD          0        0.00"}, lines(r.stdout))
	stmts := verboseLog(t, r.stderr)
	assert.Contains(t, stmts[0], "begin")
	assert.Contains(t, strings.Join(stmts, "\n"), "ListPortfolios")
	assert.Regexp(t, `(?m)^time=\S+ level=DEBUG msg=database host=\S+ port=\d+ database=\S+ user=\S+ `, r.stderr)

	r = c.run(t, "--verbose", "buy", "Main", "AAPL", "1", "--price", "2", "--date", "2024-01-02")
	require.Equal(t, 0, r.code, "%v", r)
	assert.Equal(t, "Bought 1 AAPL at 2.00 on 2024-01-02 in \"Main\".\n", r.stdout)
	stmts = verboseLog(t, r.stderr)
	all := strings.Join(stmts, "\n")
	assert.Contains(t, all, "InsertInvestment")
	assert.Contains(t, all, "commit")

	// A failure logs, then says what failed.
	r = c.run(t, "--verbose", "report", "Nope")
	assert.Equal(t, 4, r.code, "%v", r)
	assert.Contains(t, r.stderr, "\nfolio: portfolio \"Nope\": not found\n")

	// Without --verbose, nothing but the output.
	r = c.run(t, "portfolio", "list")
	assert.Equal(t, 0, r.code)
	assert.Empty(t, r.stderr)
}

// passwordURL returns the URL of a migrated database for a role with a
// password. The server trusts Unix socket connections, so the password is
// not checked, but it is in the URL for the binary to keep to itself.
func passwordURL(t *testing.T) string {
	t.Helper()
	dbURL := pgtest.URL(t)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	role := "folio_pw_" + hex.EncodeToString(b)
	admin := pgtest.OpenPool(t, pgtest.AdminURL(t, "postgres"))
	_, err = admin.Exec(t.Context(), "create role "+pgx.Identifier{role}.Sanitize()+
		" login password '"+secret+"' in role "+pgx.Identifier{u.User.Username()}.Sanitize())
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := admin.Exec(context.Background(), "drop role "+pgx.Identifier{role}.Sanitize())
		assert.NoError(t, err)
	})
	u.User = url.UserPassword(role, secret)
	return u.String()
}

func requireNoSecret(t *testing.T, r result, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		require.NotContains(t, r.stdout, s, "%v", r)
		require.NotContains(t, r.stderr, s, "%v", r)
	}
}

func TestSecretsStaySecret(t *testing.T) {
	t.Parallel()

	t.Run("unreachable server", func(t *testing.T) {
		t.Parallel()
		bad := "postgres://someone:" + secret + "@127.0.0.1:1/db"
		for _, c := range []*cli{
			{url: bad},
			{env: []string{"FOLIO_DATA_DIR=/nonexistent"}}, // the flag below
		} {
			for _, args := range [][]string{
				{"portfolio", "list"},
				{"portfolio", "list", "--verbose"},
				{"migrate", "up"},
				{"demo"},
			} {
				if c.url == "" {
					args = append(args, "--database-url", bad)
				}
				r := c.run(t, args...)
				assert.Equal(t, 1, r.code, "%v", r)
				requireCleanError(t, r)
				requireNoSecret(t, r, secret)
				assert.Contains(t, r.stderr, "host 127.0.0.1, port 1", "%v", r)
			}
		}
	})

	t.Run("malformed URL", func(t *testing.T) {
		t.Parallel()
		// Each says why, in pgx's words, and never shows the password.
		for _, tc := range []struct{ url, reason string }{
			{"postgres://u:" + secret + "@host:notaport/db", "invalid port"},
			{"postgres://u:" + secret + "@[bad/db", `failed to parse as URL (end of string reached when looking for matching "]"`},
			{"postgres://u:" + secret + "@host:99999/db", "invalid port"},
			{"postgres://u:" + secret + "@host/db?sslmode=sometimes", "failed to configure TLS (sslmode is invalid)"},
			{"postgres://u:" + secret + "@host/db?connect_timeout=soon", `invalid connect_timeout ("soon" is not a whole number)`},
			{"postgres://u:" + secret + "@host/db?connect_timeout=99999999999999999999", `invalid connect_timeout ("99999999999999999999" is out of range)`},
			{"postgres://u:" + secret + "@host/db%zz", `failed to parse as URL (invalid percent-encoded token: "db%zz")`},
			{"postgres://u:" + secret[:3] + "%zz" + secret[3:] + "@host/db", "failed to parse as URL (invalid percent-encoded token in password)"},
			{"postgres://u:" + secret + " x@host/db", "failed to parse as URL (unexpected spaces found in password"},
			{"postgres://u:" + secret + "@host/db?pool_max_conns=many", `cannot parse pool_max_conns ("many" is not a whole number)`},
			{"host=x password=" + secret + " port=abc", "invalid port"},
			{"host=x password='" + secret, "failed to parse as keyword/value (unterminated quoted string in connection info string)"},
			{"host=x password=" + secret + " sslmode=bogus", "failed to configure TLS (sslmode is invalid)"},
			{"mysql://u:" + secret + "@host/db", "the scheme is mysql, and folio works with PostgreSQL only"},
			{"HTTP://u:" + secret + "@host/db", "the scheme is http, and folio works with PostgreSQL only"},
		} {
			for _, args := range [][]string{{"portfolio", "list"}, {"--verbose", "migrate", "up"}, {"demo"}} {
				r := (&cli{url: tc.url}).run(t, args...)
				assert.Equal(t, 2, r.code, "%v", r)
				requireCleanError(t, r)
				requireNoSecret(t, r, secret, secret[:3]+"%zz"+secret[3:])
				assert.True(t, strings.HasPrefix(r.stderr, "folio: invalid database URL: "+tc.reason), "%v", r)
				assert.Contains(t, r.stderr, "; use postgres://user:password@host:port/database", "%v", r)
			}
			// The flag is the same as the variable.
			r := (&cli{}).run(t, "portfolio", "list", "--database-url", tc.url)
			assert.Equal(t, 2, r.code, "%v", r)
			requireNoSecret(t, r, secret)
			assert.True(t, strings.HasPrefix(r.stderr, "folio: invalid database URL: "+tc.reason), "%v", r)
		}
	})

	t.Run("verbose on a working database", func(t *testing.T) {
		t.Parallel()
		dbURL := passwordURL(t)
		require.Contains(t, dbURL, secret)
		secrets := []string{secret, "pgtdbpass"}
		c := &cli{url: dbURL}
		for _, args := range [][]string{
			{"security", "add", "AAPL", "--name", "Apple"},
			{"price", "set", "AAPL", "3"},
			{"portfolio", "create", "Main"},
			{"buy", "Main", "AAPL", "1", "--price", "2"},
			{"report", "Main"},
			{"migrate", "status"},
		} {
			r := c.run(t, append(args, "--verbose")...)
			require.Equal(t, 0, r.code, "%v", r)
			requireNoSecret(t, r, secrets...)
			assert.NotEmpty(t, r.stderr)
		}
		// The same URL given as a flag.
		r := (&cli{}).run(t, "--verbose", "--database-url", dbURL, "portfolio", "list")
		require.Equal(t, 0, r.code, "%v", r)
		requireNoSecret(t, r, secrets...)
		verboseLog(t, r.stderr)
		// And a failure.
		r = c.run(t, "--verbose", "portfolio", "create", "Main")
		require.Equal(t, 5, r.code, "%v", r)
		requireNoSecret(t, r, secrets...)
	})

	t.Run("help", func(t *testing.T) {
		t.Parallel()
		bad := "postgres://u:" + secret + "@host/db"
		for _, args := range [][]string{
			{"--help"},
			{"--database-url", bad, "--help"},
			{"--database-url", bad, "portfolio", "--help"},
			{"--database-url", bad, "portfolio", "list", "--help"},
			{"--database-url=" + bad, "buy", "-h"},
			{"portfolio", "list", "--database-url", bad, "--help"},
			{"portfolio", "--database-url", bad, "-h"},
		} {
			for _, c := range []*cli{{url: bad}, {}} {
				r := c.run(t, args...)
				assert.Equal(t, 0, r.code, "%v", r)
				assert.Contains(t, r.stdout, "Usage:", "%v", r)
				requireNoSecret(t, r, secret)
			}
		}
	})

	t.Run("misspelled flag", func(t *testing.T) {
		t.Parallel()
		// The flag is named, never its value: the URL after a flag the
		// command does not know is not taken for a command to name.
		bad := "postgres://u:" + secret + "@host/db"
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--databse-url", bad, "portfolio", "list"}, "folio: flag provided but not defined: --databse-url\n"},
			{[]string{"portfolio", "--databse-url", bad, "list"}, "folio: flag provided but not defined: --databse-url\n"},
			{[]string{"portfolio", "list", "--databse-url", bad}, "folio: flag provided but not defined: --databse-url\n"},
			{[]string{"--databse-url=" + bad, "portfolio", "list"}, "folio: flag provided but not defined: --databse-url\n"},
			{[]string{"---database-url=" + bad, "portfolio", "list"}, "folio: bad flag syntax: ---database-url\n"},
			{[]string{"portfolio", "list", "---database-url=" + bad}, "folio: bad flag syntax: ---database-url\n"},
			{[]string{"--=" + bad, "portfolio", "list"}, "folio: bad flag syntax: --\n"},
		} {
			r := (&cli{}).run(t, tc.args...)
			assert.Equal(t, 2, r.code, "%v", r)
			assert.True(t, strings.HasPrefix(r.stderr, tc.want), "%q: %v", tc.args, r)
			requireNoSecret(t, r, secret)
		}
	})
}
