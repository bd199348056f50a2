package migrate_test

import (
	"testing"

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
	latest, err := migrate.Latest()
	require.NoError(t, err)
	assert.Equal(t, n, latest)
}
