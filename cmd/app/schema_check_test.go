package main

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/pgtest"
)

// A database whose schema is behind this build is refused, before any
// command (serve too) fails halfway on a missing table or column; folio
// does not migrate a database it did not start.
func TestCommandsRefuseASchemaBehind(t *testing.T) {
	t.Parallel()
	url := pgtest.EmptyURL(t)
	c, pool := &cli{url: url}, pgtest.OpenPool(t, url)
	n := len(migrationFiles(t))

	// Reading the version of a database goose never touched creates nothing.
	assert.Equal(t, fmt.Sprintf("version 0 (latest %d)\n", n), c.ok(t, "migrate", "version"))
	var pending []struct {
		Applied bool `json:"applied"`
	}
	c.okJSON(t, &pending, "migrate", "status")
	require.Len(t, pending, n)
	assert.False(t, pending[0].Applied)
	assert.False(t, queryOne[bool](t, pool, "select to_regclass('goose_db_version') is not null"),
		"version and status created goose's table")

	for _, args := range [][]string{{"portfolio", "list"}, {"serve", "--addr", "127.0.0.1:0"}} {
		assert.Equal(t, "folio: the database has no folio tables yet: run 'folio migrate up' first\n", c.fails(t, 1, args...), args)
	}

	c.ok(t, "migrate", "up-to", fmt.Sprint(n-1))
	want := fmt.Sprintf("folio: the database's schema is at version %d, and this folio needs version %d: run 'folio migrate up' first\n", n-1, n)
	for _, args := range [][]string{
		{"portfolio", "list"},
		{"portfolio", "create", "Early"},
		{"serve", "--addr", "127.0.0.1:0"},
	} {
		assert.Equal(t, want, c.fails(t, 1, args...), args)
	}
	assert.Equal(t, 0, queryOne[int](t, pool, "select count(*) from portfolio"), "nothing was written")

	c.ok(t, "migrate", "up")
	assert.Equal(t, "Created portfolio \"Early\" (USD).\n", c.ok(t, "portfolio", "create", "Early"))

	// A newer schema than this build knows is accepted: a migration that
	// keeps older builds working is how one is deployed.
	_, err := pool.Exec(t.Context(), "insert into goose_db_version (version_id, is_applied) values ($1, true)", n+1)
	require.NoError(t, err)
	assert.Contains(t, c.ok(t, "portfolio", "list"), "Early")

	// The migrate commands say so rather than "version not found", and
	// roll nothing back.
	newer := fmt.Sprintf("the database is at version %d, newer than the newest migration here (%d)", n+1, n)
	assert.Equal(t, "Nothing to apply: "+newer+".\n", c.ok(t, "migrate", "up"))
	assert.Contains(t, c.ok(t, "migrate", "status"), "The database is at version "+fmt.Sprint(n+1)+", newer than the newest migration here")
	for _, args := range [][]string{{"migrate", "down"}, {"migrate", "redo"}, {"migrate", "reset"}, {"migrate", "down-to", "1"}} {
		assert.Equal(t, fmt.Sprintf("folio: cannot roll back: the schema is newer than the migration files: the database is at version %d, and the newest migration here is %d; roll back with the folio (or the migration files) that applied %d\n", n+1, n, n+1),
			c.fails(t, 1, args...), args)
	}
	assert.Equal(t, fmt.Sprintf("version %d (latest %d)\n", n+1, n), c.ok(t, "migrate", "version"))
	assert.True(t, queryOne[bool](t, pool, "select to_regclass('portfolio') is not null"), "nothing rolled back")
}

// The README's app role reads the schema version and runs commands; one
// that may not read goose_db_version at all (as the README's setup once
// had it) runs them without the check.
func TestSchemaCheckAsTheAppRole(t *testing.T) {
	t.Parallel()
	dsn := pgtest.URL(t)
	for i, role := range []string{
		pgtest.AppRoleURL(t, dsn),
		pgtest.AppRoleURL(t, dsn, "REVOKE ALL ON goose_db_version FROM {role}"),
	} {
		c := &cli{url: role}
		name := fmt.Sprintf("Kept%d", i)
		assert.Equal(t, fmt.Sprintf("Created portfolio %q (USD).\n", name), c.ok(t, "portfolio", "create", name))
		assert.Contains(t, c.ok(t, "portfolio", "list"), name)
	}
}
