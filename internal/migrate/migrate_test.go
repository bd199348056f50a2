package migrate_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3/lock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio"
	"github.com/folio-dev/folio/internal/migrate"
	"github.com/folio-dev/folio/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var ctx = context.Background()

// schemaObjects names, per migration, an object it creates, as an expression
// that is NULL while the object does not exist (or, for a migration that
// changes an object, has its old form).
var schemaObjects = map[int64]string{
	1: "to_regclass('public.security')",
	2: "to_regclass('public.portfolio')",
	3: "to_regclass('public.investment')",
	4: "to_regclass('public.portfolio_name_trgm_idx')",
	5: "to_regprocedure('public.folio_assert(boolean, text)')",
	// A changed constraint, not a new object: its definition.
	6: `(SELECT 1 FROM pg_constraint WHERE conname = 'security_symbol_shape'
	     AND pg_get_constraintdef(oid) LIKE '%^[A-Z0-9][A-Z0-9.-]{0,11}$%')`,
	7: "(SELECT 1 FROM pg_constraint WHERE conname = 'portfolio_name_text')",
	8: "(SELECT 1 FROM pg_constraint WHERE conname = 'portfolio_name_key' AND condeferrable)",
	9: `(SELECT 1 FROM pg_constraint WHERE conname = 'portfolio_name_text'
	     AND strpos(pg_get_constraintdef(oid), U&'\2028') > 0)`,
	10: `(SELECT 1 FROM pg_constraint WHERE conname = 'portfolio_name_text'
	     AND strpos(pg_get_constraintdef(oid), U&'\034F') > 0)`,
	11: "(SELECT 1 FROM pg_constraint WHERE conname = 'investment_numbers_not_nan')",
	12: "(SELECT 1 FROM pg_constraint WHERE conname = 'portfolio_last_sale_on_range')",
	13: "(SELECT 1 FROM pg_indexes WHERE indexname = 'portfolio_name_trgm_idx' AND indexdef ILIKE '%normalize(lower(name), nfc)%')",
	14: "to_regclass('public.security_symbol_trgm_idx')",
	15: "(SELECT 1 FROM pg_class WHERE oid = to_regclass('public.security') AND reloptions @> '{fillfactor=50}')",
}

var fileVersion = regexp.MustCompile(`^(\d+)_[a-z0-9_]+\.sql$`)

// schemaFiles returns the names of the migrations in sql/schema, in order.
func schemaFiles(t *testing.T) []string {
	t.Helper()
	files, err := fs.Glob(folio.Migrations, "*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	slices.Sort(files)
	return files
}

func version(t *testing.T, file string) int64 {
	t.Helper()
	m := fileVersion.FindStringSubmatch(file)
	require.NotNil(t, m, "migration file name %s", file)
	v, err := strconv.ParseInt(m[1], 10, 64)
	require.NoError(t, err)
	return v
}

// The other tests rely on the migrations being numbered 1 to n, each with
// an object in schemaObjects to look for.
func TestSchemaFiles(t *testing.T) {
	t.Parallel()
	files := schemaFiles(t)
	for i, f := range files {
		require.Equal(t, int64(i+1), version(t, f), "%s: migrations are numbered 1, 2, 3... without gaps", f)
		require.Contains(t, schemaObjects, int64(i+1), "add an object that %s creates to schemaObjects", f)
	}
	require.Len(t, schemaObjects, len(files))
}

// emptyDB returns the URL of an empty database of the test's own and a pool
// on it.
func emptyDB(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	url := pgtest.EmptyURL(t)
	return url, openPool(t, url)
}

func openPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, pool.Ping(ctx))
	return pool
}

func newMigrator(t *testing.T, pool *pgxpool.Pool, opts ...migrate.Option) *migrate.Migrator {
	t.Helper()
	m, err := migrate.New(pool, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, m.Close()) })
	return m
}

func exists(t *testing.T, pool *pgxpool.Pool, expr string) bool {
	t.Helper()
	var ok bool
	require.NoError(t, pool.QueryRow(ctx, "SELECT "+expr+" IS NOT NULL").Scan(&ok))
	return ok
}

// requireSchemaAt asserts that the objects of the migrations up to v exist,
// those of the later ones do not, and goose records exactly 1 to v.
func requireSchemaAt(t *testing.T, pool *pgxpool.Pool, v int64) {
	t.Helper()
	for mv, expr := range schemaObjects {
		require.Equal(t, mv <= v, exists(t, pool, expr), "%s at version %d", expr, v)
	}
	var want []int64
	for i := int64(1); i <= v; i++ {
		want = append(want, i)
	}
	require.Equal(t, want, appliedVersions(t, pool), "versions in goose_db_version")
}

// appliedVersions lists the migrations goose_db_version records, zero
// version left out, in order, with duplicates.
func appliedVersions(t *testing.T, pool *pgxpool.Pool) []int64 {
	t.Helper()
	if !exists(t, pool, "to_regclass('public.goose_db_version')") {
		return nil
	}
	rows, err := pool.Query(ctx, "SELECT version_id FROM goose_db_version WHERE version_id > 0 AND is_applied ORDER BY version_id")
	require.NoError(t, err)
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	if len(vs) == 0 {
		return nil
	}
	return vs
}

func requireVersion(t *testing.T, m *migrate.Migrator, current, latest int64) {
	t.Helper()
	cur, lat, err := m.Version(ctx)
	require.NoError(t, err)
	require.Equal(t, current, cur, "current version")
	require.Equal(t, latest, lat, "latest version")
}

func resultVersions(res []*migrate.Result) []int64 {
	var vs []int64
	for _, r := range res {
		vs = append(vs, r.Source.Version)
	}
	return vs
}

func span(from, to int64) []int64 {
	var vs []int64
	step := int64(1)
	if from > to {
		step = -1
	}
	for v := from; ; v += step {
		vs = append(vs, v)
		if v == to {
			return vs
		}
	}
}

func TestUpOnEmptyDatabase(t *testing.T) {
	t.Parallel()
	files := schemaFiles(t)
	n := int64(len(files))
	_, pool := emptyDB(t)
	m := newMigrator(t, pool)

	requireVersion(t, m, 0, n)
	requireSchemaAt(t, pool, 0)

	res, err := m.Up(ctx)
	require.NoError(t, err)
	require.Len(t, res, len(files))
	for i, r := range res {
		assert.Equal(t, int64(i+1), r.Source.Version)
		assert.Equal(t, files[i], path.Base(r.Source.Path))
		assert.Equal(t, "up", r.Direction)
		assert.NoError(t, r.Error)
		assert.False(t, r.Empty, "%s has statements", files[i])
	}
	requireVersion(t, m, n, n)
	requireSchemaAt(t, pool, n)

	// The schema works: folio_assert raises FOL01.
	_, err = pool.Exec(ctx, "SELECT folio_assert(false, 'boom')")
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "FOL01", pgErr.Code)

	var rows int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM goose_db_version").Scan(&rows))

	// A second Up, by this Migrator or another, has nothing to do.
	for _, again := range []*migrate.Migrator{m, newMigrator(t, pool)} {
		res, err = again.Up(ctx)
		require.NoError(t, err)
		require.Empty(t, res)
		requireVersion(t, again, n, n)
	}
	var after int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM goose_db_version").Scan(&after))
	require.Equal(t, rows, after, "rows in goose_db_version")
	requireSchemaAt(t, pool, n)
}

func TestStatus(t *testing.T) {
	t.Parallel()
	files := schemaFiles(t)
	_, pool := emptyDB(t)
	m := newMigrator(t, pool)

	check := func(applied bool) {
		t.Helper()
		st, err := m.Status(ctx)
		require.NoError(t, err)
		require.Len(t, st, len(files))
		for i, s := range st {
			assert.Equal(t, int64(i+1), s.Source.Version)
			assert.Equal(t, files[i], path.Base(s.Source.Path))
			if applied {
				assert.Equal(t, "applied", string(s.State), files[i])
				assert.WithinDuration(t, time.Now(), s.AppliedAt, time.Hour, files[i])
			} else {
				assert.Equal(t, "pending", string(s.State), files[i])
				assert.True(t, s.AppliedAt.IsZero(), files[i])
			}
		}
	}
	check(false)
	_, err := m.Up(ctx)
	require.NoError(t, err)
	check(true)
	_, err = m.Reset(ctx)
	require.NoError(t, err)
	check(false)
}

func TestDownRedoReset(t *testing.T) {
	t.Parallel()
	n := int64(len(schemaFiles(t)))
	require.GreaterOrEqual(t, n, int64(3), "this test walks down three migrations")
	_, pool := emptyDB(t)
	m := newMigrator(t, pool)
	_, err := m.Up(ctx)
	require.NoError(t, err)

	t.Run("down rolls back the last one", func(t *testing.T) {
		for v := n; v > n-2; v-- {
			res, err := m.Down(ctx)
			require.NoError(t, err)
			require.Equal(t, v, res.Source.Version)
			require.Equal(t, "down", res.Direction)
			requireVersion(t, m, v-1, n)
			requireSchemaAt(t, pool, v-1)
		}
		res, err := m.Up(ctx)
		require.NoError(t, err)
		require.Equal(t, []int64{n - 1, n}, resultVersions(res))
		requireSchemaAt(t, pool, n)
	})

	t.Run("redo applies the last one again", func(t *testing.T) {
		var before int64
		require.NoError(t, pool.QueryRow(ctx, "SELECT id FROM goose_db_version WHERE version_id = $1", n).Scan(&before))
		res, err := m.Redo(ctx)
		require.NoError(t, err)
		require.Len(t, res, 2)
		assert.Equal(t, n, res[0].Source.Version)
		assert.Equal(t, "down", res[0].Direction)
		assert.Equal(t, n, res[1].Source.Version)
		assert.Equal(t, "up", res[1].Direction)
		requireVersion(t, m, n, n)
		requireSchemaAt(t, pool, n)
		var after int64
		require.NoError(t, pool.QueryRow(ctx, "SELECT id FROM goose_db_version WHERE version_id = $1", n).Scan(&after))
		require.Greater(t, after, before, "the migration was recorded anew")
	})

	t.Run("down to a version", func(t *testing.T) {
		res, err := m.DownTo(ctx, 2)
		require.NoError(t, err)
		require.Equal(t, span(n, 3), resultVersions(res))
		requireVersion(t, m, 2, n)
		requireSchemaAt(t, pool, 2)

		res, err = m.DownTo(ctx, 2)
		require.NoError(t, err)
		require.Empty(t, res)
		requireSchemaAt(t, pool, 2)
	})

	t.Run("reset removes everything", func(t *testing.T) {
		res, err := m.Reset(ctx)
		require.NoError(t, err)
		require.Equal(t, []int64{2, 1}, resultVersions(res))
		requireVersion(t, m, 0, n)
		requireSchemaAt(t, pool, 0)
		var tables []string
		require.NoError(t, pool.QueryRow(ctx,
			"SELECT coalesce(array_agg(tablename::text), '{}') FROM pg_tables WHERE schemaname = 'public'").Scan(&tables))
		require.Equal(t, []string{"goose_db_version"}, tables)
		// 00004's Down keeps the extension on purpose.
		require.True(t, exists(t, pool, "(SELECT oid FROM pg_extension WHERE extname = 'pg_trgm')"))

		res, err = m.Reset(ctx)
		require.NoError(t, err)
		require.Empty(t, res)
		_, err = m.Down(ctx)
		require.ErrorIs(t, err, migrate.ErrNoChange)
		_, err = m.Redo(ctx)
		require.ErrorIs(t, err, migrate.ErrNoChange)
		requireSchemaAt(t, pool, 0)
	})

	t.Run("up again", func(t *testing.T) {
		res, err := m.Up(ctx)
		require.NoError(t, err)
		require.Equal(t, span(1, n), resultVersions(res))
		requireVersion(t, m, n, n)
		requireSchemaAt(t, pool, n)
	})
}

// Two processes migrating one empty database at the same moment: both
// succeed and every migration is applied once.
func TestConcurrentUp(t *testing.T) {
	t.Parallel()
	n := int64(len(schemaFiles(t)))

	// race starts Up on migrators of their own pools (separate sessions,
	// as separate processes would have), released together (see
	// together), and returns what each did. held, if not nil, runs on the
	// test's goroutine while they run.
	race := func(t *testing.T, url string, racers int, held func()) [][]*migrate.Result {
		ms := make([]*migrate.Migrator, racers)
		for i := range ms {
			ms[i] = newMigrator(t, openPool(t, url))
		}
		results := make([][]*migrate.Result, racers)
		errs := make([]error, racers)
		finished := make(chan struct{})
		go func() {
			together(racers, func(i int) { results[i], errs[i] = ms[i].Up(ctx) })
			close(finished)
		}()
		if held != nil {
			held() // it waits for the racers to poll for the lock
		}
		<-finished
		for i, err := range errs {
			require.NoError(t, err, "migrator %d", i)
		}
		return results
	}

	check := func(t *testing.T, pool *pgxpool.Pool, results [][]*migrate.Result) {
		t.Helper()
		// One of them applied everything; the others found it done.
		var all []int64
		busy := 0
		for _, res := range results {
			if len(res) > 0 {
				busy++
			}
			all = append(all, resultVersions(res)...)
		}
		require.Equal(t, 1, busy, "migrators that applied migrations")
		require.Equal(t, span(1, n), all)

		requireSchemaAt(t, pool, n)
		var rows, versions, zero int64
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE version_id > 0),
			count(DISTINCT version_id) FILTER (WHERE version_id > 0), count(*) FILTER (WHERE version_id = 0)
			FROM goose_db_version`).Scan(&rows, &versions, &zero))
		require.Equal(t, n, rows, "rows of applied migrations")
		require.Equal(t, n, versions, "distinct versions")
		require.Equal(t, int64(1), zero, "rows of version 0: the version table was set up once")
	}

	t.Run("started together", func(t *testing.T) {
		t.Parallel()
		url, pool := emptyDB(t)
		check(t, pool, race(t, url, 4, nil))
	})

	// With the version table there, no migrator waits to retry creating
	// it: they go straight to migrating.
	t.Run("started together on a version table", func(t *testing.T) {
		t.Parallel()
		url, pool := emptyDB(t)
		m := newMigrator(t, pool)
		_, err := m.Up(ctx)
		require.NoError(t, err)
		_, err = m.Reset(ctx)
		require.NoError(t, err)
		requireVersion(t, m, 0, n)
		require.True(t, exists(t, pool, "to_regclass('public.goose_db_version')"))
		check(t, pool, race(t, url, 4, nil))
	})

	t.Run("waiting for the lock together", func(t *testing.T) {
		t.Parallel()
		url, pool := emptyDB(t)
		// Hold goose's advisory lock until both migrators poll for it, so
		// that both are past their check for pending migrations and
		// contend for the lock when it is released.
		holder, err := pgx.Connect(ctx, url)
		require.NoError(t, err)
		t.Cleanup(func() { _ = holder.Close(ctx) })
		_, err = holder.Exec(ctx, "SELECT pg_advisory_lock($1)", lock.DefaultLockID)
		require.NoError(t, err)

		since := serverNow(t, holder)
		results := race(t, url, 2, func() {
			waitForPollers(t, holder, 2, since)
			require.Empty(t, appliedVersions(t, pool), "applied while the lock was held")
			var unlocked bool
			require.NoError(t, holder.QueryRow(ctx, "SELECT pg_advisory_unlock($1)", lock.DefaultLockID).Scan(&unlocked))
			require.True(t, unlocked)
		})
		check(t, pool, results)
	})
}

// Every operation waits for the lock as long as configured, however long
// the same Migrator waited before. (goose's locker spends one retry budget
// over its whole life.)
func TestLockWaitIsPerOperation(t *testing.T) {
	t.Parallel()
	url, pool := emptyDB(t)
	m := newMigrator(t, pool, migrate.WithLockTimeout(1, 2))
	_, err := m.Up(ctx)
	require.NoError(t, err)

	holder, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = holder.Close(ctx) })
	_, err = holder.Exec(ctx, "SELECT pg_advisory_lock($1)", lock.DefaultLockID)
	require.NoError(t, err)

	// The lock stays taken: the Migrator gives up after two more polls.
	began := time.Now()
	_, err = m.Status(ctx)
	require.ErrorContains(t, err, "lock")
	require.GreaterOrEqual(t, time.Since(began), 2*time.Second)

	// The lock is released while the Migrator waits: it gets it.
	since := serverNow(t, holder)
	done := make(chan error, 1)
	go func() {
		_, err := m.Status(ctx)
		done <- err
	}()
	// Released only once the Migrator is polling for it, so that the
	// wait, not an early start, is what gets the lock.
	waitForPollers(t, holder, 1, since)
	_, err = holder.Exec(ctx, "SELECT pg_advisory_unlock($1)", lock.DefaultLockID)
	require.NoError(t, err)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Status did not get the lock")
	}
}

// waitForPollers waits until n other sessions of holder's database have
// polled for goose's advisory lock (the locker's pg_try_advisory_lock)
// since the server's clock read since. (A session that polled before, and
// gave up, sits idle in the pool with that poll as its last query.)
func waitForPollers(t *testing.T, holder *pgx.Conn, n int, since time.Time) {
	t.Helper()
	require.Eventually(t, func() bool {
		var polling int
		err := holder.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()
			AND query LIKE '%pg_try_advisory_lock%' AND query_start > $1`, since).Scan(&polling)
		return err == nil && polling == n
	}, 30*time.Second, 20*time.Millisecond, "%d sessions poll for the lock", n)
}

// serverNow reads the server's clock.
func serverNow(t *testing.T, conn *pgx.Conn) time.Time {
	t.Helper()
	var now time.Time
	require.NoError(t, conn.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&now))
	return now
}

// migrationsFS returns the first n real migrations, plus extra files.
func migrationsFS(t *testing.T, n int, extra map[string]string) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, f := range schemaFiles(t)[:n] {
		data, err := fs.ReadFile(folio.Migrations, f)
		require.NoError(t, err)
		fsys[f] = &fstest.MapFile{Data: data}
	}
	for name, body := range extra {
		fsys[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return fsys
}

func TestFailingMigration(t *testing.T) {
	t.Parallel()
	const broken = "00003_broken.sql"
	brokenFS := migrationsFS(t, 2, map[string]string{broken: `-- +goose Up
CREATE TABLE half_done (id int);
INSERT INTO half_done VALUES (1);
SELEC 1;

-- +goose Down
DROP TABLE half_done;
`})

	_, pool := emptyDB(t)
	m := newMigrator(t, pool, migrate.WithFS(brokenFS))

	for range 2 { // and again: the failure is the same
		res, err := m.Up(ctx)
		require.Error(t, err)
		require.ErrorContains(t, err, broken)
		var pgErr *pgconn.PgError
		require.ErrorAs(t, err, &pgErr)
		require.Equal(t, "42601", pgErr.Code, "syntax_error")

		requireVersion(t, m, 2, 3)
		requireSchemaAt(t, pool, 2)
		require.False(t, exists(t, pool, "to_regclass('public.half_done')"),
			"the statements before the error were rolled back")
		st, err := m.Status(ctx)
		require.NoError(t, err)
		require.Len(t, st, 3)
		require.Equal(t, "pending", string(st[2].State))

		if res != nil { // the first run applied 1 and 2 before failing
			require.Equal(t, []int64{1, 2}, resultVersions(res))
		}
	}

	// Fixed, the migration applies.
	fixed := migrationsFS(t, 2, map[string]string{broken: `-- +goose Up
CREATE TABLE half_done (id int);

-- +goose Down
DROP TABLE half_done;
`})
	res, err := newMigrator(t, pool, migrate.WithFS(fixed)).Up(ctx)
	require.NoError(t, err)
	require.Equal(t, []int64{3}, resultVersions(res))
	require.True(t, exists(t, pool, "to_regclass('public.half_done')"))
}

// TestFailingMigrationOutsideATransaction: a migration that opts out of
// the transaction (as CREATE INDEX CONCURRENTLY must) keeps what it ran
// before the failing statement, and the error says so rather than that
// the schema was left as it was.
func TestFailingMigrationOutsideATransaction(t *testing.T) {
	t.Parallel()
	const broken = "00003_broken.sql"
	// Every spelling goose reads as the annotation.
	for _, annotation := range []string{
		"-- +goose NO TRANSACTION", "-- +goose no transaction", "--+goose NO TRANSACTION", "-- +goose  No Transaction \r",
	} {
		t.Run(annotation, func(t *testing.T) {
			t.Parallel()
			_, pool := emptyDB(t)
			m := newMigrator(t, pool, migrate.WithFS(migrationsFS(t, 2, map[string]string{broken: annotation + `
-- +goose Up
CREATE TABLE half_done (id int);
SELEC 1;

-- +goose Down
DROP TABLE half_done;
`})))
			_, err := m.Up(ctx)
			require.Error(t, err)
			assert.ErrorContains(t, err, "migrate up: "+broken+" failed, schema left at the migration before it, but it runs outside a transaction "+
				"(-- +goose NO TRANSACTION), so its statements before the failing one stay done: undo them by hand before running it again: ")
			requireVersion(t, m, 2, 3)
			assert.True(t, exists(t, pool, "to_regclass('public.half_done')"), "the statement before the failure stayed")
		})
	}
}

func TestFailingMigrationResults(t *testing.T) {
	t.Parallel()
	_, pool := emptyDB(t)
	m := newMigrator(t, pool, migrate.WithFS(migrationsFS(t, 2, map[string]string{
		"00003_broken.sql": "-- +goose Up\nSELEC 1;\n-- +goose Down\n",
	})))
	res, err := m.Up(ctx)
	require.ErrorContains(t, err, "00003_broken.sql")
	require.Equal(t, []int64{1, 2}, resultVersions(res), "what Up applied before the failure")
}

func TestFailingDown(t *testing.T) {
	t.Parallel()
	const broken = "00002_bad_down.sql"
	_, pool := emptyDB(t)
	m := newMigrator(t, pool, migrate.WithFS(migrationsFS(t, 1, map[string]string{broken: `-- +goose Up
CREATE TABLE kept (id int);

-- +goose Down
DROP TABLE kept;
DROP TABLE no_such_table;
`})))
	_, err := m.Up(ctx)
	require.NoError(t, err)

	_, err = m.Down(ctx)
	require.ErrorContains(t, err, "migrate down: "+broken+" failed, it is still applied: ")
	requireVersion(t, m, 2, 2)
	require.True(t, exists(t, pool, "to_regclass('public.kept')"), "the failed Down was rolled back")

	// Each names the operation asked for, not the rollback it runs.
	redone, err := m.Redo(ctx)
	require.ErrorContains(t, err, "migrate redo: "+broken+" failed, it is still applied: ")
	require.Empty(t, redone)
	res, err := m.Reset(ctx)
	require.ErrorContains(t, err, "migrate reset: "+broken+" failed, it is still applied: ")
	require.Empty(t, res)
	res, err = m.DownTo(ctx, 1)
	require.ErrorContains(t, err, "migrate down: "+broken+" failed, it is still applied: ")
	require.Empty(t, res)
	requireVersion(t, m, 2, 2)
	require.True(t, exists(t, pool, "to_regclass('public.security')"))
}

// goose parses every migration it is about to run before it runs any, so a
// file it cannot parse stops Up before the valid ones before it.
func TestUnparsableMigration(t *testing.T) {
	t.Parallel()
	const broken = "00003_unparsable.sql"
	_, pool := emptyDB(t)
	m := newMigrator(t, pool, migrate.WithFS(migrationsFS(t, 2, map[string]string{broken: `-- +goose Up
-- +goose StatementBegin
CREATE TABLE never (id int);
`})))
	res, err := m.Up(ctx)
	require.ErrorContains(t, err, broken)
	require.Empty(t, res)
	requireVersion(t, m, 0, 3)
	requireSchemaAt(t, pool, 0)
}

func TestNewRefusesBadMigrations(t *testing.T) {
	t.Parallel()
	_, pool := emptyDB(t)
	for name, tc := range map[string]struct {
		fsys fs.FS
		want string
	}{
		"no migrations":     {fstest.MapFS{"README.md": &fstest.MapFile{Data: []byte("x")}}, "migrate: no migrations found"},
		"duplicate version": {migrationsFS(t, 2, map[string]string{"00002_again.sql": "-- +goose Up\n"}), "migrate: found duplicate migration version 2"},
	} {
		t.Run(name, func(t *testing.T) {
			m, err := migrate.New(pool, migrate.WithFS(tc.fsys))
			require.ErrorContains(t, err, tc.want)
			require.Nil(t, m)
		})
	}
	require.False(t, exists(t, pool, "to_regclass('public.goose_db_version')"), "New touched the database")
}

// With a logger, a Migrator logs each migration it applies.
func TestWithLogger(t *testing.T) {
	t.Parallel()
	_, pool := emptyDB(t)
	var buf syncBuffer
	m := newMigrator(t, pool, migrate.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	_, err := m.Up(ctx)
	require.NoError(t, err)
	for _, f := range schemaFiles(t) {
		require.Contains(t, buf.String(), fmt.Sprintf("direction=up source=%s", f))
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Migration 00007 puts names stored before it in normalization form C and
// takes the invisible characters out of them, bumping the portfolios'
// versions; a name that would then clash with another gets the end of its
// id, so that the migration never stops on the data.
func TestNameTextMigration(t *testing.T) {
	t.Parallel()
	_, pool := emptyDB(t)
	_, err := newMigrator(t, pool, migrate.WithFS(migrationsFS(t, 6, nil))).Up(ctx)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `
		insert into portfolio (id, name, currency, version) values
			('00000000-0000-7000-8000-000000000001', U&'Cafe\0301', 'EUR', 3),
			('00000000-0000-7000-8000-000000000002', U&'Gro\200Bwth', 'USD', 1),
			('00000000-0000-7000-8000-000000000004', U&'\202EGrowth', 'USD', 1),
			('00000000-0000-7000-8000-000000000005', U&'\FEFF\200B', 'USD', 1),
			('00000000-0000-7000-8000-000000000006', 'Plain', 'USD', 1),
			('00000000-0000-7000-8000-000000000007', U&'Ole\200B\0301', 'USD', 1),
			('00000000-0000-7000-8000-000000000008', repeat(U&'\0958', 60), 'USD', 1);
		insert into security (id, symbol, name, currency) values
			('00000000-0000-7000-8000-000000000003', 'ABC', U&'Societe\0301\00AD', 'EUR'),
			('00000000-0000-7000-8000-000000000009', 'QA', repeat(U&'\0958', 150), 'INR')`)
	require.NoError(t, err)
	type row struct {
		Name    string
		Version int64
	}
	portfolio := func(id string) row {
		var r row
		require.NoError(t, pool.QueryRow(ctx, "select name, version from portfolio where id = $1", id).Scan(&r.Name, &r.Version))
		return r
	}

	m := newMigrator(t, pool)
	_, err = m.UpTo(ctx, 7)
	require.NoError(t, err)
	requireSchemaAt(t, pool, 7)
	assert.Equal(t, row{"Caf\u00e9", 4}, portfolio("00000000-0000-7000-8000-000000000001"))
	// Both clean to "Growth": each gets the end of its id.
	assert.Equal(t, row{"Growth (000000000002)", 2}, portfolio("00000000-0000-7000-8000-000000000002"), "zero-width space taken out")
	assert.Equal(t, row{"Growth (000000000004)", 2}, portfolio("00000000-0000-7000-8000-000000000004"), "override taken out")
	assert.Equal(t, row{"unnamed", 2}, portfolio("00000000-0000-7000-8000-000000000005"))
	assert.Equal(t, row{"Plain", 1}, portfolio("00000000-0000-7000-8000-000000000006"), "already normal: untouched")
	// Normalized after the zero-width space that kept the accent apart
	// went: the constraint would refuse "Ole" and an accent.
	assert.Equal(t, row{"Ol\u00e9", 2}, portfolio("00000000-0000-7000-8000-000000000007"))
	// NFC writes U+0958 as two characters: 60 of them come to 120, more
	// than a name may have, and the name takes the suffix, which keeps
	// within 100; a security's name is cut at 200 with an ellipsis.
	qa := strings.Repeat("\u0915\u093c", 42) + "\u0915"
	assert.Equal(t, row{qa + " (000000000008)", 2}, portfolio("00000000-0000-7000-8000-000000000008"), "lengthened past 100")
	var name string
	require.NoError(t, pool.QueryRow(ctx, "select name from security where symbol = 'ABC'").Scan(&name))
	assert.Equal(t, "Societ\u00e9", name)
	require.NoError(t, pool.QueryRow(ctx, "select name from security where symbol = 'QA'").Scan(&name))
	assert.Equal(t, strings.Repeat("\u0915\u093c", 99)+"\u0915\u2026", name, "lengthened past 200")
}
