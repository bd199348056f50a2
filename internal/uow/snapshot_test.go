package uow_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/uow"
	"github.com/folio-dev/folio/internal/uow/uowtest"
)

// A portfolio and its lots are loaded by two statements in one pipeline. At
// the default isolation level both read one snapshot: a commit that lands
// between them is not seen at all, rather than seen in the lots and not in
// the portfolio's version. The commit is made to land there: the lots
// statement waits for a lock on the investment table that the committing
// transaction holds, until it has committed. (The units run on a
// connection of their own that has prepared both statements before: an
// unprepared statement would wait for the lock while being parsed, before
// the unit's first statement has taken its snapshot.)
func TestLoadReadsOneSnapshot(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL"}, "Main")
	id := ids["Main"]
	buy(t, r, id, secs["AAPL"], "10")

	cfg := pool.Config()
	cfg.MinConns, cfg.MaxConns = 1, 1
	one, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(one.Close)
	r, err = uow.NewRunner(one)
	require.NoError(t, err)
	rc, err := uow.NewRunner(one, uow.WithIsolation(pgx.ReadCommitted))
	require.NoError(t, err)
	get := func(ctx context.Context, u *uow.Unit) error {
		_, err := u.Portfolios().Get(ctx, id)
		return err
	}
	require.NoError(t, r.Do(ctx, get))
	require.NoError(t, r.Read(ctx, get))

	type run func(context.Context, func(context.Context, *uow.Unit) error, ...uow.Option) error
	for _, mode := range []struct {
		name string
		run  run
		torn bool
	}{
		{"Do", r.Do, false},
		{"Read", r.Read, false},
		// What WithIsolation warns of: each statement sees the latest
		// commits, the lots that of the commit, the portfolio not.
		{"Do at READ COMMITTED", rc.Do, true},
		{"Read at READ COMMITTED", rc.Read, true},
		// WithSnapshot promises one snapshot, whatever the level.
		{"Read WithSnapshot at READ COMMITTED", func(ctx context.Context, fn func(context.Context, *uow.Unit) error, opts ...uow.Option) error {
			return rc.Read(ctx, fn, append(opts, uow.WithSnapshot())...)
		}, false},
	} {
		t.Run(mode.name, func(t *testing.T) {
			v0, lots0 := stored(t, pool, id)
			tx, err := pool.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback(ctx) }()
			_, err = tx.Exec(ctx, "LOCK TABLE investment IN ACCESS EXCLUSIVE MODE")
			require.NoError(t, err)

			type seen struct {
				version int64
				lots    map[string]string
				err     error
			}
			done := make(chan seen, 1)
			go func() {
				var s seen
				s.err = mode.run(ctx, func(ctx context.Context, u *uow.Unit) error {
					p, err := u.Portfolios().Get(ctx, id)
					if err != nil {
						return err
					}
					s.version, s.lots = p.Version(), map[string]string{}
					for _, l := range p.Investments() {
						s.lots[l.ID().String()] = l.Quantity().String()
					}
					return nil
				})
				done <- s
			}()
			// The portfolio is read; the lots wait for the lock.
			require.Eventually(t, func() bool {
				var n int
				err := pool.QueryRow(ctx, `select count(*) from pg_stat_activity
					where wait_event_type = 'Lock' and query ilike '%from investment%'`).Scan(&n)
				return err == nil && n == 1
			}, 20*time.Second, 5*time.Millisecond, "the unit's lots statement waits for the lock")
			_, err = tx.Exec(ctx, "UPDATE investment SET quantity = quantity + 5 WHERE portfolio_id = $1", id)
			require.NoError(t, err)
			_, err = tx.Exec(ctx, "UPDATE portfolio SET version = version + 1 WHERE id = $1", id)
			require.NoError(t, err)
			require.NoError(t, tx.Commit(ctx))

			var s seen
			select {
			case s = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the unit did not finish")
			}
			require.NoError(t, s.err)
			v1, lots1 := stored(t, pool, id)
			require.Equal(t, v0+1, v1, "the commit landed")
			want := map[string]string{}
			lots := lots0
			if mode.torn {
				lots = lots1
			}
			for lot, q := range lots {
				want[lot.String()] = dec(q).String()
			}
			assert.Equal(t, v0, s.version, "the portfolio as it was")
			assert.Equal(t, want, s.lots)
		})
	}
}

// A Read unit WithSnapshot sees one snapshot over all its round trips,
// also on a runner at READ COMMITTED: it runs at REPEATABLE READ.
func TestSnapshotReadAtReadCommitted(t *testing.T) {
	t.Parallel()
	pool, r := newDB(t, uow.WithIsolation(pgx.ReadCommitted))
	seed(t, r, nil, "One")
	var rep uow.Report
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		before, err := u.Portfolios().List(ctx, uow.ListOptions{})
		require.NoError(t, err)
		_, err = pool.Exec(ctx, "insert into portfolio (id, name, currency) values (gen_random_uuid(), 'Two', 'USD')")
		require.NoError(t, err)
		after, err := u.Portfolios().List(ctx, uow.ListOptions{})
		require.NoError(t, err)
		assert.Len(t, before, 1)
		assert.Len(t, after, 1, "a commit after the unit's first read is not seen")
		return nil
	}, uow.WithSnapshot(), uow.WithReport(&rep)))
	assert.Equal(t, "begin isolation level repeatable read read only", uowtest.Names(rep)[0])
	assert.Equal(t, 2, count(t, pool, "portfolio"))
}
