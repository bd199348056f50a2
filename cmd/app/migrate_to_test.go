package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3/lock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/pgtest"
)

func TestMigrateUpToAndDownTo(t *testing.T) {
	t.Parallel()
	url := pgtest.EmptyURL(t)
	c, pool := &cli{url: url}, pgtest.OpenPool(t, url)
	files := migrationFiles(t)
	n := len(files)
	require.GreaterOrEqual(t, n, 3, "this test stops at versions 1 and 2")
	versions := func(from, to int) string {
		var vs []string
		for v := from; v <= to; v++ {
			vs = append(vs, fmt.Sprint(v))
		}
		return strings.Join(vs, ",")
	}

	assert.Equal(t, []string{"up " + files[0], "up " + files[1]}, migrateOutput(t, c.ok(t, "migrate", "up-to", "2")))
	assert.Equal(t, "1,2", appliedVersions(t, pool))
	assert.Equal(t, fmt.Sprintf("version 2 (latest %d)\n", n), c.ok(t, "migrate", "version"))
	assert.Equal(t, "Nothing to apply: the schema is at or past that version.\n", c.ok(t, "migrate", "up-to", "1"))
	var none []any
	c.okJSON(t, &none, "migrate", "up-to", "2")
	assert.NotNil(t, none)
	assert.Empty(t, none)

	var up []map[string]any
	c.okJSON(t, &up, "migrate", "up-to", fmt.Sprint(n))
	require.Len(t, up, n-2)
	for i, u := range up {
		assert.Equal(t, []any{"up", float64(i + 3), files[i+2]}, []any{u["direction"], u["version"], u["file"]})
	}
	assert.Equal(t, versions(1, n), appliedVersions(t, pool))

	var down []string
	for v := n; v > 1; v-- {
		down = append(down, "down "+files[v-1])
	}
	assert.Equal(t, down, migrateOutput(t, c.ok(t, "migrate", "down-to", "1")))
	assert.Equal(t, "1", appliedVersions(t, pool))
	assert.Equal(t, "Nothing to roll back: the schema is at or below that version.\n", c.ok(t, "migrate", "down-to", "2"))
	assert.Equal(t, []string{"down " + files[0]}, migrateOutput(t, c.ok(t, "migrate", "down-to", "0")))
	assert.Equal(t, "", appliedVersions(t, pool))
	assert.Equal(t, "", folioTables(t, pool))

	// Bad versions are invalid input, and change nothing.
	c.ok(t, "migrate", "up-to", "2")
	for _, tc := range []struct{ args, want string }{
		{"up-to abc", `folio: invalid version "abc": a migration's version is a whole number, like 3`},
		{"up-to -1", `folio: invalid version "-1": a migration's version is a whole number, like 3`},
		{"up-to 99999999999999999999", `folio: invalid version "99999999999999999999": a migration's version is a whole number, like 3`},
		{"up-to 1;DROP", `folio: invalid version "1;DROP": a migration's version is a whole number, like 3`},
		{"up-to +3", `folio: invalid version "+3": a migration's version is a whole number, like 3`},
		{"down-to -0", `folio: invalid version "-0": a migration's version is a whole number, like 3`},
		{"up-to 0", fmt.Sprintf("folio: unknown migration version 0: the versions run from 1 to %d", n)},
		{fmt.Sprintf("up-to %d", n+1), fmt.Sprintf("folio: unknown migration version %d: the versions run from 1 to %d", n+1, n)},
		{fmt.Sprintf("down-to %d", n+1), fmt.Sprintf("folio: unknown migration version %d: the versions run from 1 to %d, and 0 rolls back all of them", n+1, n)},
	} {
		stderr := c.fails(t, 3, append([]string{"migrate"}, strings.Fields(tc.args)...)...)
		assert.Equal(t, tc.want+"\n", stderr, tc.args)
	}
	assert.Equal(t, "1,2", appliedVersions(t, pool))
	c.fails(t, 2, "migrate", "up-to")
	c.fails(t, 2, "migrate", "down-to", "1", "2")
	assert.Equal(t, "1,2", appliedVersions(t, pool))
}

// An interrupted migrate says so, and how to see what it did: each
// migration is a transaction of its own. Here it is stopped while it waits
// for the advisory lock another migration holds.
func TestMigrateInterrupted(t *testing.T) {
	t.Parallel()
	url := pgtest.EmptyURL(t)
	pool := pgtest.OpenPool(t, url)
	holder, err := pool.Acquire(t.Context())
	require.NoError(t, err)
	defer holder.Release()
	_, err = holder.Exec(t.Context(), "select pg_advisory_lock($1)", lock.DefaultLockID)
	require.NoError(t, err)
	defer holder.Exec(context.Background(), "select pg_advisory_unlock($1)", lock.DefaultLockID) //nolint:errcheck

	c := &cli{url: url}
	cmd, stdout, stderr := c.command(t, t.Context(), "migrate", "up")
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool {
		var polling int
		err := pool.QueryRow(t.Context(), `select count(*) from pg_stat_activity
			where datname = current_database() and pid <> pg_backend_pid() and query like '%pg_try_advisory_lock%'`).Scan(&polling)
		return err == nil && polling > 0
	}, 30*time.Second, 20*time.Millisecond, "migrate up polls for the lock")
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	err = cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Empty(t, stdout.String())
	assert.Equal(t, "folio: interrupted: each migration is a transaction of its own, so those applied before the signal stay applied; 'folio migrate status' shows which\n", stderr.String())
	assert.Equal(t, "", appliedVersions(t, pool))
}
