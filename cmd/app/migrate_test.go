package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/pgtest"
)

// folioTables lists which of folio's tables exist.
func folioTables(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	return queryOne[string](t, pool, `select concat_ws(',',
		to_regclass('security')::text, to_regclass('portfolio')::text, to_regclass('investment')::text,
		to_regprocedure('folio_assert(boolean, text)')::text)`)
}

// appliedVersions lists the versions goose recorded as applied, in order.
func appliedVersions(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	return queryOne[string](t, pool, `select coalesce(string_agg(version_id::text, ',' order by id), '')
		from goose_db_version where version_id > 0 and is_applied`)
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	url := pgtest.EmptyURL(t)
	c, pool := &cli{url: url}, pgtest.OpenPool(t, url)
	files := migrationFiles(t)
	n := len(files)
	all := make([]string, n)
	for i := range files {
		all[i] = fmt.Sprint(i + 1)
	}
	allVersions := strings.Join(all, ",")
	ups := make([]string, n)
	for i, f := range files {
		ups[i] = "up " + f
	}

	// Nothing is applied yet, and the commands that need the schema say so.
	assert.Equal(t, fmt.Sprintf("version 0 (latest %d)\n", n), c.ok(t, "migrate", "version"))
	stderr := c.fails(t, 1, "portfolio", "list")
	assert.Equal(t, "folio: the database has no folio tables yet: run 'folio migrate up' first\n", stderr)
	var pending []struct {
		Version   int64   `json:"version"`
		File      string  `json:"file"`
		Applied   bool    `json:"applied"`
		AppliedAt *string `json:"applied_at"`
	}
	c.okJSON(t, &pending, "migrate", "status")
	require.Len(t, pending, n)
	for i, s := range pending {
		assert.Equal(t, int64(i+1), s.Version)
		assert.Equal(t, files[i], s.File)
		assert.False(t, s.Applied)
		assert.Nil(t, s.AppliedAt)
	}

	// up applies every file, once.
	assert.Equal(t, ups, migrateOutput(t, c.ok(t, "migrate", "up")))
	assert.Equal(t, allVersions, appliedVersions(t, pool))
	assert.Equal(t, "security,portfolio,investment,folio_assert(boolean,text)", folioTables(t, pool))
	history := queryOne[string](t, pool, "select string_agg(id || ':' || version_id || ':' || tstamp, ',' order by id) from goose_db_version")

	assert.Equal(t, "The schema is up to date.\n", c.ok(t, "migrate", "up"))
	var none []any
	c.okJSON(t, &none, "migrate", "up")
	assert.NotNil(t, none)
	assert.Empty(t, none)
	assert.Equal(t, history, queryOne[string](t, pool,
		"select string_agg(id || ':' || version_id || ':' || tstamp, ',' order by id) from goose_db_version"),
		"a second up changes nothing")

	status := lines(c.ok(t, "migrate", "status"))
	require.Len(t, status, n+1)
	assert.Equal(t, []string{"VERSION", "FILE", "APPLIED"}, strings.Fields(status[0]))
	for i, l := range status[1:] {
		assert.Regexp(t, fmt.Sprintf(`^ *%05d  %s +\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$`, i+1, files[i]), l)
	}
	var applied []struct {
		Version   int64      `json:"version"`
		File      string     `json:"file"`
		Applied   bool       `json:"applied"`
		AppliedAt *time.Time `json:"applied_at"`
	}
	c.okJSON(t, &applied, "migrate", "status")
	require.Len(t, applied, n)
	for i, s := range applied {
		assert.Equal(t, files[i], s.File)
		assert.True(t, s.Applied)
		require.NotNil(t, s.AppliedAt)
		assert.WithinDuration(t, time.Now(), *s.AppliedAt, 10*time.Minute)
	}

	assert.Equal(t, fmt.Sprintf("version %d (latest %d)\n", n, n), c.ok(t, "migrate", "version"))
	var version map[string]int64
	c.okJSON(t, &version, "migrate", "version")
	assert.Equal(t, map[string]int64{"version": int64(n), "latest": int64(n)}, version)
	assert.JSONEq(t, fmt.Sprintf(`{"version":%d,"latest":%d}`, n, n), c.ok(t, "migrate", "version", "--json"))
	assert.Regexp(t, `^\{\s*"version"`, c.ok(t, "migrate", "version", "--json"), "the README's order")

	// Some data, which survives what does not touch its tables.
	c.ok(t, "portfolio", "create", "Kept")

	// down rolls back the last one only.
	assert.Equal(t, []string{"down " + files[n-1]}, migrateOutput(t, c.ok(t, "migrate", "down")))
	assert.Equal(t, strings.Join(all[:n-1], ","), appliedVersions(t, pool))
	assert.Equal(t, fmt.Sprintf("version %d (latest %d)\n", n-1, n), c.ok(t, "migrate", "version"))

	// redo rolls back and applies the (new) last one.
	assert.Equal(t, []string{"down " + files[n-2], "up " + files[n-2]}, migrateOutput(t, c.ok(t, "migrate", "redo")))
	assert.Equal(t, strings.Join(all[:n-1], ","), appliedVersions(t, pool))
	assert.Equal(t, 1, queryOne[int](t, pool, "select count(*) from portfolio where name = 'Kept'"))
	var redo []map[string]any
	c.okJSON(t, &redo, "migrate", "redo")
	require.Len(t, redo, 2)
	assert.Equal(t, []any{"down", files[n-2]}, []any{redo[0]["direction"], redo[0]["file"]})
	assert.Equal(t, []any{"up", files[n-2]}, []any{redo[1]["direction"], redo[1]["file"]})
	assert.Equal(t, strings.Join(all[:n-1], ","), appliedVersions(t, pool))

	// reset rolls back everything: version 0, and the tables are gone.
	var down []struct {
		Version   int64  `json:"version"`
		File      string `json:"file"`
		Direction string `json:"direction"`
		Millis    *int64 `json:"duration_ms"`
	}
	c.okJSON(t, &down, "migrate", "reset")
	require.Len(t, down, n-1)
	for i, d := range down {
		assert.Equal(t, int64(n-1-i), d.Version)
		assert.Equal(t, files[n-2-i], d.File)
		assert.Equal(t, "down", d.Direction)
		assert.NotNil(t, d.Millis)
	}
	assert.Equal(t, "", appliedVersions(t, pool))
	assert.Equal(t, "", folioTables(t, pool))
	assert.Equal(t, fmt.Sprintf("version 0 (latest %d)\n", n), c.ok(t, "migrate", "version"))
	assert.Equal(t, "Nothing to roll back.\n", c.ok(t, "migrate", "reset"))
	assert.Equal(t, "Nothing to roll back.\n", c.ok(t, "migrate", "down"))
	assert.Equal(t, "Nothing to redo: no migration is applied.\n", c.ok(t, "migrate", "redo"))

	// And up again.
	var up []map[string]any
	c.okJSON(t, &up, "migrate", "up")
	require.Len(t, up, n)
	for i, u := range up {
		assert.Equal(t, map[string]any{"version": float64(i + 1), "file": files[i], "direction": "up", "duration_ms": u["duration_ms"]}, u)
	}
	assert.Equal(t, "security,portfolio,investment,folio_assert(boolean,text)", folioTables(t, pool))
	assert.Equal(t, 0, queryOne[int](t, pool, "select count(*) from portfolio"))
	assert.Equal(t, "Created portfolio \"Kept\" (USD).\n", c.ok(t, "portfolio", "create", "Kept"))
}

func TestMigrateCreate(t *testing.T) {
	t.Parallel()
	// No database is needed, and none is touched.
	c := &cli{url: "postgres://someone:S3cretPw@127.0.0.1:1/db"}

	dir := t.TempDir()
	path := filepath.Join(dir, "00001_add_things.sql")
	assert.Equal(t, "Created "+path+"\n", c.ok(t, "migrate", "create", "add_things", "--dir", dir))
	content, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Contains(t, string(content), "-- +goose Up\n")
	assert.Contains(t, string(content), "-- +goose Down\n")
	// Its comments name the command as the user runs it.
	assert.Contains(t, string(content), `"folio migrate down"`)
	assert.NotContains(t, string(content), "app migrate")

	// The next number after the highest, in the same five digits; the name
	// is lower-cased with spaces and dashes made underscores.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "00007_later.sql"), nil, 0o644))
	var created map[string]string
	c.okJSON(t, &created, "migrate", "create", "--dir", dir, "More Things-here")
	assert.Equal(t, map[string]string{"created": filepath.Join(dir, "00008_more_things_here.sql")}, created)
	assert.FileExists(t, created["created"])

	// A copy of the real migrations: the next is one above them.
	real := t.TempDir()
	for _, f := range migrationFiles(t) {
		b, err := os.ReadFile(filepath.Join("../../sql/schema", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(real, f), b, 0o644))
	}
	next := fmt.Sprintf("%05d_add_things.sql", len(migrationFiles(t))+1)
	assert.Equal(t, "Created "+filepath.Join(real, next)+"\n", c.ok(t, "migrate", "create", "add_things", "--dir", real))

	// Refusals write nothing.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		// A taken name is a conflict, as the README's table has it.
		{[]string{"add_things"}, 5, `folio: migration name "add_things" is taken by ` + path + ": choose another name\n"},
		{[]string{"Add Things"}, 5, `folio: migration name "add_things" is taken by ` + path + ": choose another name\n"},
		{[]string{"bad;name"}, 3, `folio: invalid migration name "bad;name": use 1 to 60 letters, digits, spaces, '-' or '_', with at least one letter or digit` + "\n"},
		{[]string{""}, 3, `folio: invalid migration name "": use`},
		{[]string{"--dir", path, "x"}, 3, "folio: " + path + " is not a directory: give the migrations directory with --dir\n"},
	} {
		args := append([]string{"migrate", "create"}, tc.args...)
		if !slices.Contains(tc.args, "--dir") {
			args = append(args, "--dir", dir)
		}
		r := c.run(t, args...)
		assert.Equal(t, tc.code, r.code, "%v", r)
		requireCleanError(t, r)
		assert.True(t, strings.HasPrefix(r.stderr, tc.want), "%v", r)
	}
	after, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Equal(t, len(entries), len(after))

	// A missing directory: which, and what to do.
	missing := filepath.Join(dir, "missing")
	assert.Equal(t, "folio: the migrations directory "+missing+" does not exist: create it first, or give another with --dir\n",
		c.fails(t, 4, "migrate", "create", "x", "--dir", missing))
	assert.NoDirExists(t, missing)
	// The default, sql/schema, where there is none: run where it is.
	assert.Equal(t, "folio: the migrations directory sql/schema does not exist: run folio in the root of the project, or give the directory with --dir\n",
		c.fails(t, 4, "migrate", "create", "x"))
}

// TestMigrateConcurrently starts two "migrate up" at the same moment on one
// empty database: goose's advisory lock makes them take turns, so both
// succeed and every migration is applied exactly once.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	url := pgtest.EmptyURL(t)
	c, pool := &cli{url: url}, pgtest.OpenPool(t, url)
	n := len(migrationFiles(t))

	for round := 0; round < 2; round++ {
		total := 0
		for _, r := range c.runTogether(t, []string{"migrate", "up", "--json"}, []string{"migrate", "up", "--json"}) {
			require.Equal(t, 0, r.code, "%v", r)
			assert.Empty(t, r.stderr, "%v", r)
			var res []map[string]any
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &res), "%v", r)
			total += len(res)
		}
		if round == 0 {
			assert.Equal(t, n, total, "between them, the two applied each migration once")
		} else {
			assert.Equal(t, 0, total, "nothing left to apply")
		}
		assert.Equal(t, n, queryOne[int](t, pool, "select count(*) from goose_db_version where version_id > 0"))
		assert.Equal(t, 0, queryOne[int](t, pool,
			"select count(*) from (select version_id from goose_db_version group by version_id having count(*) > 1) d"))
	}
	assert.Equal(t, "security,portfolio,investment,folio_assert(boolean,text)", folioTables(t, pool))
}
