package uow_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/uow"
	"github.com/folio-dev/folio/internal/uow/uowtest"
)

var stress = flag.Duration("stress", 0, "run TestLoadKeepsEveryCommittedChange for this long instead of a fixed number of units (make stress)")

// commit is what one committed unit did to one portfolio: its version
// after the commit and the quantity it then held of each security. Together
// the commits of a portfolio are its history, version by version.
type commit struct {
	version int64
	held    map[uuid.UUID]string
	delta   map[uuid.UUID]decimal.Decimal
}

// observation is what a unit saw of a portfolio when it loaded it.
type observation struct {
	id      uuid.UUID
	version int64
	held    map[uuid.UUID]string
}

func holdings(p *domain.Portfolio) map[uuid.UUID]string {
	sum := make(map[uuid.UUID]decimal.Decimal)
	for _, l := range p.Investments() {
		sum[l.SecurityID()] = sum[l.SecurityID()].Add(l.Quantity())
	}
	out := make(map[uuid.UUID]string, len(sum))
	for id, q := range sum {
		out[id] = q.String()
	}
	return out
}

// The load test: 32 goroutines run units of work (buys, sells, moves of
// shares between portfolios, renames, reads) against 50 portfolios. Every
// unit that commits logs what it committed; every unit records what it saw.
// Afterwards:
//   - each portfolio's quantities in the database are its initial ones plus
//     the sum of the committed changes;
//   - its version went up by exactly one per committed change, each commit
//     producing the next version;
//   - everything any unit saw of a portfolio at version v is exactly what
//     the commit that produced v left: no unit saw a partial aggregate.
func TestLoadKeepsEveryCommittedChange(t *testing.T) {
	t.Parallel()
	const (
		workers    = 32
		portfolios = 50
	)
	unitsPerWorker := 100
	if testing.Short() {
		unitsPerWorker = 15
	}
	pool, r := newDB(t, uow.WithAttempts(20))
	symbols := []string{"AAA", "BBB", "CCC"}
	secs, _ := seed(t, r, symbols)
	var ids []uuid.UUID
	initial := make(map[uuid.UUID]map[uuid.UUID]decimal.Decimal)
	require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		for i := range portfolios {
			p, err := domain.NewPortfolio(fmt.Sprintf("P%02d", i), "USD")
			require.NoError(t, err)
			initial[p.ID()] = make(map[uuid.UUID]decimal.Decimal)
			for _, s := range symbols {
				_, err := p.Buy(secs[s], dec("100"), dec("1"), day)
				require.NoError(t, err)
				initial[p.ID()][secs[s].ID()] = dec("100")
			}
			u.Portfolios().Add(p)
			ids = append(ids, p.ID())
		}
		return nil
	}))

	var (
		mu        sync.Mutex
		history   = make(map[uuid.UUID][]commit)
		seen      []observation
		run       int
		committed int
		retried   int
		refused   int // the domain said no: selling more than held
		failed    []error
	)
	deadline := time.Now().Add(*stress)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for n := 0; ; n++ {
				if *stress > 0 && time.Now().After(deadline) || *stress == 0 && n == unitsPerWorker {
					return
				}
				a, b := ids[rng.IntN(len(ids))], ids[rng.IntN(len(ids))]
				sec := secs[symbols[rng.IntN(len(symbols))]]
				qty := decimal.New(int64(rng.IntN(40)+1), -int32(rng.IntN(3)))
				op := rng.IntN(10)

				var touched []*domain.Portfolio
				var deltas []map[uuid.UUID]decimal.Decimal
				var saw []observation
				var rep uow.Report
				fn := func(ctx context.Context, u *uow.Unit) error {
					touched, deltas, saw = nil, nil, nil
					load := []uuid.UUID{a}
					if op >= 6 && a != b {
						load = append(load, b)
					}
					ps, err := u.Portfolios().GetMany(ctx, load)
					if err != nil {
						return err
					}
					for _, p := range ps {
						saw = append(saw, observation{p.ID(), p.Version(), holdings(p)})
					}
					change := func(sign int64) map[uuid.UUID]decimal.Decimal {
						return map[uuid.UUID]decimal.Decimal{sec.ID(): qty.Mul(decimal.NewFromInt(sign))}
					}
					switch {
					case op < 3: // buy
						if _, err := ps[0].Buy(sec, qty, dec("2"), day); err != nil {
							return err
						}
						touched, deltas = ps[:1], append(deltas, change(1))
					case op < 5: // sell
						if _, err := ps[0].Sell(sec, qty, day); err != nil {
							return err
						}
						touched, deltas = ps[:1], append(deltas, change(-1))
					case op == 5: // rename
						if err := ps[0].Rename(fmt.Sprintf("P-%s", uuid.NewString()[:13])); err != nil {
							return err
						}
						touched, deltas = ps[:1], append(deltas, map[uuid.UUID]decimal.Decimal{})
					case len(ps) == 2 && op < 9: // move shares from a to b
						sale, err := ps[0].Sell(sec, qty, day)
						if err != nil {
							return err
						}
						for _, l := range sale.Consumed {
							if _, err := ps[1].Buy(sec, l.Quantity, l.UnitCost, day); err != nil {
								return err
							}
						}
						touched, deltas = ps, append(deltas, change(-1), change(1))
					default: // read only
					}
					return nil
				}
				err := r.Do(ctx, fn, uow.WithReport(&rep))

				mu.Lock()
				run++
				retried += len(rep.Retries)
				switch {
				case err == nil:
					committed++
					seen = append(seen, saw...)
					for i, p := range touched {
						history[p.ID()] = append(history[p.ID()], commit{p.Version(), holdings(p), deltas[i]})
					}
				case errors.Is(err, domain.ErrInsufficientQuantity):
					refused++
					seen = append(seen, saw...)
				default:
					failed = append(failed, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("load: %d units run by %d goroutines on %d portfolios: %d committed, %d retries, %d refused by the domain (selling more than held), %d failed",
		run, workers, portfolios, committed, retried, refused, len(failed))
	require.Empty(t, failed, "no unit may fail for any reason but the domain's")

	commits := 0
	for _, id := range ids {
		version, lots := stored(t, pool, id)
		hist := history[id]
		commits += len(hist)

		// Versions: exactly one per committed change, in sequence.
		assert.Equal(t, int64(1+len(hist)), version, "portfolio %s", id)
		byVersion := make(map[int64]commit, len(hist))
		for _, c := range hist {
			_, dup := byVersion[c.version]
			assert.False(t, dup, "two commits produced version %d of %s", c.version, id)
			byVersion[c.version] = c
		}

		// Quantities: initial plus every committed change.
		want := make(map[uuid.UUID]decimal.Decimal)
		for s, q := range initial[id] {
			want[s] = q
		}
		for _, c := range hist {
			for s, d := range c.delta {
				want[s] = want[s].Add(d)
			}
		}
		got := make(map[uuid.UUID]decimal.Decimal)
		var rows []struct {
			sec uuid.UUID
			q   decimal.Decimal
		}
		rs, err := pool.Query(ctx, "select security_id, quantity from investment where portfolio_id = $1", id)
		require.NoError(t, err)
		for rs.Next() {
			var row struct {
				sec uuid.UUID
				q   decimal.Decimal
			}
			require.NoError(t, rs.Scan(&row.sec, &row.q))
			rows = append(rows, row)
		}
		require.NoError(t, rs.Err())
		require.Len(t, rows, len(lots))
		for _, row := range rows {
			got[row.sec] = got[row.sec].Add(row.q)
		}
		for s := range want {
			assert.True(t, want[s].Equal(got[s]), "portfolio %s security %s: database %s, log %s", id, s, got[s], want[s])
		}

		// What units saw is what some commit left.
		for _, o := range seen {
			if o.id != id {
				continue
			}
			if o.version == 1 {
				seed := make(map[uuid.UUID]string, len(initial[id]))
				for s, q := range initial[id] {
					seed[s] = q.String()
				}
				assert.Equal(t, seed, o.held, "a unit saw version 1 of %s in a state the seed did not leave", id)
				continue
			}
			c, ok := byVersion[o.version]
			if assert.True(t, ok, "a unit saw version %d of %s, which no commit produced", o.version, id) {
				assert.Equal(t, c.held, o.held, "a unit saw version %d of %s in a state its commit did not leave", o.version, id)
			}
		}
	}
	t.Logf("reconciled: %d portfolio commits, %d observations checked", commits, len(seen))
}

// WithSecuritiesBySymbol brings the securities a unit will trade along with
// the portfolio: a buy of a security the portfolio does not hold yet is a
// read-modify-write unit of 2 round trips, found by id or by name.
func TestSecuritiesBySymbolRideWithTheLoad(t *testing.T) {
	pool, r := newDB(t)
	secs, ids := seed(t, r, []string{"AAPL", "MSFT"}, "Main")
	for _, byName := range []bool{false, true} {
		var rep uow.Report
		require.NoError(t, r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
			var (
				p   *domain.Portfolio
				err error
			)
			opt := uow.WithSecuritiesBySymbol("MSFT", "NOPE")
			if byName {
				p, err = u.Portfolios().GetByName(ctx, "Main", opt)
			} else {
				p, err = u.Portfolios().Get(ctx, ids["Main"], opt)
			}
			require.NoError(t, err)
			require.Equal(t, 1, u.Stats().RoundTrips)

			msft, err := u.Securities().GetBySymbol(ctx, "MSFT")
			require.NoError(t, err)
			assert.Equal(t, secs["MSFT"].ID(), msft.ID())
			assert.Equal(t, 1, u.Stats().RoundTrips, "MSFT came with the portfolio")
			_, err = p.Buy(msft, dec("2"), dec("300"), day)
			return err
		}, uow.WithReport(&rep)))
		assert.Equal(t, 2, rep.RoundTrips, "by name: %v\n%s", byName, uowtest.Describe(rep))
		assert.Contains(t, uowtest.Names(rep), "GetSecuritiesBySymbols")
	}
	_, lots := stored(t, pool, ids["Main"])
	assert.Len(t, lots, 2)

	// A symbol without a security: the load succeeds, GetBySymbol says so.
	require.NoError(t, r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		_, err := u.Portfolios().Get(ctx, ids["Main"], uow.WithSecuritiesBySymbol("NOPE"))
		require.NoError(t, err)
		_, err = u.Securities().GetBySymbol(ctx, "NOPE")
		assert.ErrorIs(t, err, domain.ErrNotFound)
		// A portfolio the unit has: the securities still load, alone.
		before := u.Stats().RoundTrips
		_, err = u.Portfolios().Get(ctx, ids["Main"], uow.WithSecuritiesBySymbol("AAPL"))
		require.NoError(t, err)
		assert.Equal(t, before+1, u.Stats().RoundTrips)
		_, err = u.Securities().GetBySymbol(ctx, "AAPL")
		require.NoError(t, err)
		assert.Equal(t, before+1, u.Stats().RoundTrips)
		return nil
	}))
}
