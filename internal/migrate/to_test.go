package migrate_test

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/migrate"
)

func TestUpToAndDownTo(t *testing.T) {
	t.Parallel()
	n := int64(len(schemaFiles(t)))
	require.GreaterOrEqual(t, n, int64(3), "this test stops at versions 1 and 2")
	_, pool := emptyDB(t)
	m := newMigrator(t, pool)

	res, err := m.UpTo(ctx, 2)
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 2}, resultVersions(res))
	requireVersion(t, m, 2, n)
	requireSchemaAt(t, pool, 2)

	// At or past the target, nothing happens.
	for _, v := range []int64{2, 1} {
		res, err = m.UpTo(ctx, v)
		require.NoError(t, err)
		assert.Empty(t, res, "up to %d at version 2", v)
	}
	requireVersion(t, m, 2, n)

	res, err = m.UpTo(ctx, n)
	require.NoError(t, err)
	assert.Equal(t, span(3, n), resultVersions(res))
	requireSchemaAt(t, pool, n)

	res, err = m.DownTo(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, span(n, 2), resultVersions(res))
	requireVersion(t, m, 1, n)
	requireSchemaAt(t, pool, 1)

	res, err = m.DownTo(ctx, 2)
	require.NoError(t, err)
	assert.Empty(t, res, "down to 2 at version 1")

	res, err = m.DownTo(ctx, 0)
	require.NoError(t, err)
	assert.Equal(t, []int64{1}, resultVersions(res))
	requireSchemaAt(t, pool, 0)
}

// A target no migration file has is refused before anything runs: a
// mistyped "up-to 70" must not apply every migration there is.
func TestUpToAndDownToRefuseUnknownVersions(t *testing.T) {
	t.Parallel()
	n := int64(len(schemaFiles(t)))
	_, pool := emptyDB(t)
	m := newMigrator(t, pool)
	for _, v := range []int64{0, -1, n + 1, 1 << 62} {
		res, err := m.UpTo(ctx, v)
		require.ErrorIs(t, err, migrate.ErrUnknownVersion, "up to %d", v)
		assert.Nil(t, res)
		assert.Contains(t, err.Error(), "the versions run from 1 to")
	}
	requireVersion(t, m, 0, n)
	requireSchemaAt(t, pool, 0)

	_, err := m.Up(ctx)
	require.NoError(t, err)
	for _, v := range []int64{-1, n + 1} {
		res, err := m.DownTo(ctx, v)
		require.ErrorIs(t, err, migrate.ErrUnknownVersion, "down to %d", v)
		assert.Nil(t, res)
		assert.Contains(t, err.Error(), "0 rolls back all of them")
	}
	requireVersion(t, m, n, n)
	requireSchemaAt(t, pool, n)
}

// Version and Status only read: on a database goose has never touched,
// they report nothing applied and create nothing; the rollbacks find
// nothing to do there, and create nothing either.
func TestVersionAndStatusOnlyRead(t *testing.T) {
	t.Parallel()
	n := int64(len(schemaFiles(t)))
	_, pool := emptyDB(t)
	m := newMigrator(t, pool)
	requireVersion(t, m, 0, n)
	st, err := m.Status(ctx)
	require.NoError(t, err)
	require.Len(t, st, int(n))
	for i, s := range st {
		assert.Equal(t, int64(i+1), s.Source.Version)
		assert.Equal(t, "pending", string(s.State))
	}
	// Nor do the rollbacks, which have nothing to roll back.
	_, err = m.Down(ctx)
	assert.ErrorIs(t, err, migrate.ErrNoChange)
	_, err = m.Redo(ctx)
	assert.ErrorIs(t, err, migrate.ErrNoChange)
	for _, to := range []int64{0, 1} {
		res, err := m.DownTo(ctx, to)
		require.NoError(t, err)
		assert.Empty(t, res)
	}
	res, err := m.Reset(ctx)
	require.NoError(t, err)
	assert.Empty(t, res)
	assert.False(t, exists(t, pool, "to_regclass('public.goose_db_version')"), "goose's table was created")
	v, err := migrate.SchemaVersion(ctx, pool)
	require.NoError(t, err)
	assert.Zero(t, v)

	_, err = m.UpTo(ctx, 2)
	require.NoError(t, err)
	v, err = migrate.SchemaVersion(ctx, pool)
	require.NoError(t, err)
	assert.Equal(t, int64(2), v)
}

// nameRow is a portfolio's name and version, with the last character of
// its id.
type nameRow struct {
	ID, Name string
	Version  int64
}

func storedNames(t *testing.T, pool *pgxpool.Pool) []nameRow {
	t.Helper()
	rows, err := pool.Query(ctx, "select right(id::text, 1), name, version from portfolio order by id")
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[nameRow])
	require.NoError(t, err)
	return got
}

// Migration 00009 rewrites the names it would refuse instead of failing
// on them, so that an upgrade never stops there: separators become spaces,
// invisible characters go, versions move, and a clash is settled with the
// id.
func TestSeparatorsMigrationRewritesNames(t *testing.T) {
	t.Parallel()
	_, pool := emptyDB(t)
	_, err := newMigrator(t, pool, migrate.WithFS(migrationsFS(t, 8, nil))).Up(ctx)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `
		insert into portfolio (id, name, currency, version) values
			('00000000-0000-7000-8000-000000000001', U&'Line\2028break', 'USD', 3),
			('00000000-0000-7000-8000-000000000002', U&'\3164', 'USD', 1),
			('00000000-0000-7000-8000-000000000003', 'Taken', 'USD', 1),
			('00000000-0000-7000-8000-000000000004', U&'Tak\FFA0en', 'USD', 1),
			('00000000-0000-7000-8000-000000000005', U&'Twin\2029', 'USD', 1),
			('00000000-0000-7000-8000-000000000006', U&'\206ATwin', 'USD', 1),
			('00000000-0000-7000-8000-000000000007', 'Plain', 'USD', 1),
			('00000000-0000-7000-8000-000000000009', U&'Ole\3164\0301', 'USD', 1);
		insert into security (id, symbol, name, currency) values
			('00000000-0000-7000-8000-000000000008', 'ACME', U&'Acme\3164Corp', 'USD')`)
	require.NoError(t, err)

	_, err = newMigrator(t, pool).Up(ctx)
	require.NoError(t, err)
	requireSchemaAt(t, pool, int64(len(schemaFiles(t))))
	assert.Equal(t, []nameRow{
		{"1", "Line break", 4},
		{"2", "unnamed", 2},
		{"3", "Taken", 1},
		{"4", "Taken (000000000004)", 2},
		{"5", "Twin (000000000005)", 2},
		{"6", "Twin (000000000006)", 2},
		{"7", "Plain", 1},
		{"9", "Ol\u00e9", 2}, // normalized once the filler is out
	}, storedNames(t, pool))
	var sec string
	require.NoError(t, pool.QueryRow(ctx, "select name from security where symbol = 'ACME'").Scan(&sec))
	assert.Equal(t, "AcmeCorp", sec)
}

// Migration 00010 rewrites names holding the default-ignorable characters
// it refuses, as 00009 does, and leaves alone those that scripts and emoji
// need (joiners, marks, variation selectors, the tags of a flag), which
// the new constraint still accepts.
func TestIgnorablesMigrationRewritesNames(t *testing.T) {
	t.Parallel()
	_, pool := emptyDB(t)
	_, err := newMigrator(t, pool, migrate.WithFS(migrationsFS(t, 9, nil))).Up(ctx)
	require.NoError(t, err)
	const flag = "Scots \U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F"
	_, err = pool.Exec(ctx, `
		insert into portfolio (id, name, currency, version) values
			('00000000-0000-7000-8000-000000000001', U&'Grape\034Fvine', 'USD', 3),
			('00000000-0000-7000-8000-000000000002', U&'\+01D173', 'USD', 1),
			('00000000-0000-7000-8000-000000000003', 'Taken', 'USD', 1),
			('00000000-0000-7000-8000-000000000004', U&'Tak\+0E0001en', 'USD', 1),
			('00000000-0000-7000-8000-000000000005', $1, 'USD', 1),
			('00000000-0000-7000-8000-000000000006', U&'\2764\FE0F \845B\+0E0100 a\200Db', 'USD', 1),
			('00000000-0000-7000-8000-000000000007', U&'Cafe\034F\0301', 'USD', 1)`, flag)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `insert into security (id, symbol, name, currency) values
			('00000000-0000-7000-8000-000000000008', 'ACME', U&'Acme\17B4Corp', 'USD')`)
	require.NoError(t, err)

	_, err = newMigrator(t, pool).Up(ctx)
	require.NoError(t, err)
	requireSchemaAt(t, pool, int64(len(schemaFiles(t))))
	assert.Equal(t, []nameRow{
		{"1", "Grapevine", 4},
		{"2", "unnamed", 2},
		{"3", "Taken", 1},
		{"4", "Taken (000000000004)", 2},
		{"5", flag, 1},
		{"6", "\u2764\ufe0f \u845b\U000E0100 a\u200db", 1},
		{"7", "Caf\u00e9", 2}, // NFC with the joiner, and NFC again without
	}, storedNames(t, pool))
	var sec string
	require.NoError(t, pool.QueryRow(ctx, "select name from security where symbol = 'ACME'").Scan(&sec))
	assert.Equal(t, "AcmeCorp", sec)

	// The constraint holds them from now on.
	_, err = pool.Exec(ctx, `update portfolio set name = U&'Grape\+0E0080vine' where name = 'Grapevine'`)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "portfolio_name_text", pgErr.ConstraintName)
}

// Migration 00011 rewrites names with control characters or Unicode white
// space at an end (which the domain refuses to load) and adds the rest of
// the domain's rules for stored values; a NaN or a day out of range cannot
// be repaired, and stops the migration with the schema left at 10.
func TestStoredValuesMigration(t *testing.T) {
	t.Parallel()
	_, pool := emptyDB(t)
	_, err := newMigrator(t, pool, migrate.WithFS(migrationsFS(t, 10, nil))).Up(ctx)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `
		insert into portfolio (id, name, currency, version) values
			('00000000-0000-7000-8000-000000000001', U&'Gamma\00A0', 'USD', 3),
			('00000000-0000-7000-8000-000000000002', 'Gam'||chr(9)||'ma', 'USD', 1),
			('00000000-0000-7000-8000-000000000003', 'Taken', 'USD', 1),
			('00000000-0000-7000-8000-000000000004', U&'\3000Taken', 'USD', 1),
			('00000000-0000-7000-8000-000000000005', chr(10), 'USD', 1),
			('00000000-0000-7000-8000-000000000006', 'Cafe'||chr(1)||U&'\0301', 'USD', 1),
			('00000000-0000-7000-8000-000000000007', U&'Plain\00A0inside', 'USD', 1);
		insert into security (id, symbol, name, currency) values
			('00000000-0000-7000-8000-000000000008', 'ACME', 'Acme Corp'||chr(10), 'USD')`)
	require.NoError(t, err)

	_, err = newMigrator(t, pool).Up(ctx)
	require.NoError(t, err)
	requireSchemaAt(t, pool, int64(len(schemaFiles(t))))
	assert.Equal(t, []nameRow{
		{"1", "Gamma", 4},
		{"2", "Gam ma", 2},
		{"3", "Taken", 1},
		{"4", "Taken (000000000004)", 2},
		{"5", "unnamed", 2},
		{"6", "Cafe \u0301", 2}, // a space, not nothing: the accent stays apart
		{"7", "Plain\u00a0inside", 1},
	}, storedNames(t, pool))
	var sec string
	require.NoError(t, pool.QueryRow(ctx, "select name from security where symbol = 'ACME'").Scan(&sec))
	assert.Equal(t, "Acme Corp", sec)

	// A NaN has no repair: the migration stops, and the schema stays at 10.
	_, pool = emptyDB(t)
	_, err = newMigrator(t, pool, migrate.WithFS(migrationsFS(t, 10, nil))).Up(ctx)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `
		insert into portfolio (id, name, currency) values ('00000000-0000-7000-8000-000000000001', 'P', 'USD');
		insert into security (id, symbol, name, currency) values ('00000000-0000-7000-8000-000000000002', 'S', 'S', 'USD');
		insert into investment (id, portfolio_id, security_id, quantity, unit_cost, acquired_on) values
			('00000000-0000-7000-8000-000000000003', '00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-000000000002', 'NaN', 1, '2024-01-02')`)
	require.NoError(t, err)
	_, err = newMigrator(t, pool).Up(ctx)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "investment_numbers_not_nan", pgErr.ConstraintName)
	requireSchemaAt(t, pool, 10)
}

// A database a newer folio migrated has a version no file here has: the
// rollbacks refuse with ErrNewerSchema and roll nothing back, where goose
// alone says "version not found"; Up has nothing to do.
func TestRollbacksRefuseANewerSchema(t *testing.T) {
	t.Parallel()
	n := int64(len(schemaFiles(t)))
	_, pool := emptyDB(t)
	m := newMigrator(t, pool)
	_, err := m.Up(ctx)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "insert into goose_db_version (version_id, is_applied) values ($1, true)", n+1)
	require.NoError(t, err)

	res, err := m.Up(ctx)
	require.NoError(t, err)
	assert.Empty(t, res)
	_, err = m.Down(ctx)
	assert.ErrorIs(t, err, migrate.ErrNewerSchema)
	_, err = m.Redo(ctx)
	assert.ErrorIs(t, err, migrate.ErrNewerSchema)
	for _, to := range []int64{0, 1, n} {
		res, err := m.DownTo(ctx, to)
		assert.ErrorIs(t, err, migrate.ErrNewerSchema, "down to %d", to)
		assert.Empty(t, res)
	}
	assert.Contains(t, err.Error(), fmt.Sprintf("the database is at version %d, and the newest migration here is %d", n+1, n))
	requireVersion(t, m, n+1, n)
	assert.True(t, exists(t, pool, "to_regclass('public.investment')"), "nothing rolled back")
}
