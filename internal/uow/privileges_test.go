package uow_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/migrate"
	"github.com/folio-dev/folio/internal/pgtest"
	"github.com/folio-dev/folio/internal/uow"
)

// The README's least-privilege setup: migrations run as the owner of the
// schema, the app as a role that may read and write rows and nothing else.
// Units of work need no more; the schema is out of the app's reach.
func TestUnitsRunAsARoleThatCannotChangeTheSchema(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t) // migrated by the owner
	appURL := pgtest.AppRoleURL(t, url)
	pool := pgtest.OpenPool(t, appURL, uow.ConfigurePool)
	var who string
	var superuser bool
	require.NoError(t, pool.QueryRow(ctx, "select current_user, usesuper from pg_user where usename = current_user").Scan(&who, &superuser))
	require.True(t, strings.HasPrefix(who, "folio_app_"), who)
	require.False(t, superuser)
	r, err := uow.NewRunner(pool)
	require.NoError(t, err)

	// Everything the app does works.
	secs, ids := seed(t, r, []string{"AAPL"}, "Main", "Gone")
	buy(t, r, ids["Main"], secs["AAPL"], "10", "5")
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		ps, err := u.Portfolios().GetMany(ctx, []uuid.UUID{ids["Main"], ids["Gone"]})
		if err != nil {
			return err
		}
		if _, err := ps[0].Sell(secs["AAPL"], dec("12"), day.AddDate(0, 0, 3)); err != nil {
			return err
		}
		if err := ps[0].Rename("Renamed"); err != nil {
			return err
		}
		return u.Portfolios().Remove(ps[1])
	}))
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().GetByName(ctx, "Renamed", uow.WithSecurities())
		if err != nil {
			return err
		}
		assert.Len(t, p.Investments(), 1)
		_, err = u.Portfolios().Get(ctx, ids["Gone"])
		assert.ErrorIs(t, err, domain.ErrNotFound)
		return nil
	}))

	// The schema is not the app's to change.
	for _, sql := range []string{
		"create table intruder (id int)",
		"drop table investment",
		"alter table portfolio add column note text",
		"truncate portfolio cascade",
		"delete from goose_db_version",
	} {
		_, err := pool.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		if assert.ErrorAs(t, err, &pgErr, sql) {
			assert.Equal(t, "42501", pgErr.Code, "%s: %s", sql, pgErr.Message) // insufficient_privilege
		}
	}
	m, err := migrate.New(pool)
	require.NoError(t, err)
	defer m.Close()
	_, err = m.Down(ctx)
	var pgErr *pgconn.PgError
	if assert.ErrorAs(t, err, &pgErr, "the app role cannot roll the schema back") {
		assert.Equal(t, "42501", pgErr.Code)
	}
	assert.ErrorContains(t, err, "(migrations run as the role that owns the schema; this one may not)")
	// A role that may not even read goose's table is told the same.
	blind := pgtest.OpenPool(t, pgtest.AppRoleURL(t, url, "REVOKE SELECT ON goose_db_version FROM {role}"))
	bm, err := migrate.New(blind)
	require.NoError(t, err)
	defer bm.Close()
	_, err = bm.Status(ctx)
	assert.ErrorContains(t, err, "permission denied for table goose_db_version (SQLSTATE 42501) (migrations run as the role that owns the schema; this one may not)")
	owner, err := migrate.New(pgtest.OpenPool(t, url))
	require.NoError(t, err)
	defer owner.Close()
	v, latest, err := owner.Version(ctx)
	require.NoError(t, err)
	assert.Equal(t, latest, v, "schema untouched")
}
