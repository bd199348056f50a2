package migrate_test

import (
	"context"
	"fmt"
	neturl "net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/pgtest"
)

// A role that may create tables in the schema but not extensions in the
// database stops at 00004, told who may create pg_trgm (as the README
// says), not that migrations run as the schema's owner: it may be the
// owner.
func TestExtensionRefusedSaysWhoMayCreateIt(t *testing.T) {
	t.Parallel()
	url, _ := emptyDB(t)
	u, err := neturl.Parse(url)
	require.NoError(t, err)
	db := strings.TrimPrefix(u.Path, "/")
	admin := openPool(t, pgtest.AdminURL(t, db))
	role := fmt.Sprintf("folio_mig_%d", time.Now().UnixNano())
	ident := pgx.Identifier{role}.Sanitize()
	for _, sql := range []string{
		"CREATE ROLE " + ident + " LOGIN",
		"GRANT CONNECT ON DATABASE " + pgx.Identifier{db}.Sanitize() + " TO " + ident,
		"GRANT USAGE, CREATE ON SCHEMA public TO " + ident,
	} {
		_, err := admin.Exec(ctx, sql)
		require.NoError(t, err, sql)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, sql := range []string{"DROP OWNED BY " + ident, "DROP ROLE " + ident} {
			_, err := admin.Exec(c, sql)
			assert.NoError(t, err, sql)
		}
	})
	u.User = neturl.User(role)
	m := newMigrator(t, openPool(t, u.String()))
	res, err := m.Up(ctx)
	require.ErrorContains(t, err, `00004_portfolio_name_search.sql failed, schema left at the migration before it: `+
		`ERROR: permission denied to create extension "pg_trgm" (SQLSTATE 42501) `+
		`(the migrating role needs CREATE on the database, or a superuser must create the extension first)`)
	assert.Len(t, res, 3, "00001 to 00003 applied")
	v, _, err := m.Version(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(3), v)
}
