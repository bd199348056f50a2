package bench

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/uow"
)

// Folio runs the scenarios through folio's unit of work, the way the
// package documentation and its tests use it: a Read unit for loads, a Do
// unit for every change, domain methods (Buy, Sell) for the changes, and the
// runner's own retries. The runner has its defaults (REPEATABLE READ,
// backoff 2ms to 200ms) except for the attempt bound, which is the same as
// everyone else's.
type Folio struct {
	r *uow.Runner
	// securities is reference data kept across units, as a service would
	// keep it: Buy and Sell want a *domain.Security and only read its id,
	// symbol and currency. Loading it inside each unit would cost folio a
	// statement the other implementations do not send.
	securities map[uuid.UUID]*domain.Security
	// opts are passed to every Do and Read (none in benchmarks).
	opts []uow.Option
	// pessimistic: see PGX.pessimistic. folio's way is uow.ForUpdate at
	// READ COMMITTED.
	pessimistic bool
}

// WithOptions returns a copy of f that passes opts to every Do and Read,
// such as uow.WithReport in tests.
func (f *Folio) WithOptions(opts ...uow.Option) *Folio {
	c := *f
	c.opts = append(append([]uow.Option(nil), f.opts...), opts...)
	return &c
}

// NewFolio returns the folio implementation on pool, whose configuration
// must have passed through uow.ConfigurePool.
func NewFolio(pool *pgxpool.Pool, pessimistic bool) (*Folio, error) {
	r, err := uow.NewRunner(pool, uow.WithAttempts(maxAttempts))
	if err != nil {
		return nil, err
	}
	return &Folio{r: r, securities: map[uuid.UUID]*domain.Security{}, pessimistic: pessimistic}, nil
}

// Name implements Impl.
func (*Folio) Name() string { return "folio" }

// Runner returns the runner, for tests that want a uow.Report.
func (f *Folio) Runner() *uow.Runner { return f.r }

// CacheSecurities loads the securities with these ids as reference data
// for Buy and Sell (outside any benchmark).
func (f *Folio) CacheSecurities(ctx context.Context, ids []uuid.UUID) error {
	return f.r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		ss, err := u.Securities().GetMany(ctx, ids)
		if err != nil {
			return err
		}
		for _, s := range ss {
			f.securities[s.ID()] = s
		}
		return nil
	}, f.opts...)
}

func (f *Folio) security(id uuid.UUID) (*domain.Security, error) {
	s, ok := f.securities[id]
	if !ok {
		return nil, fmt.Errorf("folio: security %s not cached", id)
	}
	return s, nil
}

// folioLoaded is what a folio load hands out: domain objects, and for
// scenario 1 the securities the lots hold, keyed by id as
// domain.Portfolio.Value wants them.
type folioLoaded struct {
	portfolios []*domain.Portfolio
	securities map[uuid.UUID]*domain.Security
}

// LoadMany implements Impl: GetMany with WithSecurities loads portfolios,
// lots and securities in one pipeline (BEGIN riding in front); the
// securities then come out of the unit's identity map without a query.
func (f *Folio) LoadMany(ctx context.Context, ids []uuid.UUID) (Loaded, error) {
	var out folioLoaded
	err := f.r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		ps, err := u.Portfolios().GetMany(ctx, ids, uow.WithSecurities())
		if err != nil {
			return err
		}
		seen := make(map[uuid.UUID]struct{}, len(ps))
		var secIDs []uuid.UUID
		for _, p := range ps {
			for l := range p.Lots() {
				if _, ok := seen[l.SecurityID()]; !ok {
					seen[l.SecurityID()] = struct{}{}
					secIDs = append(secIDs, l.SecurityID())
				}
			}
		}
		secs, err := u.Securities().Map(ctx, secIDs)
		if err != nil {
			return err
		}
		out = folioLoaded{portfolios: ps, securities: secs}
		return nil
	}, f.opts...)
	return out, err
}

// LoadOne implements Impl.
func (f *Folio) LoadOne(ctx context.Context, id uuid.UUID) (Loaded, error) {
	var out folioLoaded
	err := f.r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, id)
		out.portfolios = []*domain.Portfolio{p}
		return err
	}, f.opts...)
	return out, err
}

// SaveNew implements Impl: the domain builds the portfolio (validating
// every lot), the unit inserts it with its lots in one pipeline with BEGIN
// and COMMIT.
func (f *Folio) SaveNew(ctx context.Context, np *NewPortfolio) error {
	return f.r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := domain.NewPortfolio(np.Name, np.Currency)
		if err != nil {
			return err
		}
		for _, l := range np.Lots {
			sec, err := f.security(l.SecurityID)
			if err != nil {
				return err
			}
			if _, err := p.Buy(sec, l.Quantity, l.UnitCost, l.AcquiredOn); err != nil {
				return err
			}
		}
		u.Portfolios().Add(p)
		return nil
	}, f.opts...)
}

// Sell implements Impl: load, Sell, and let the commit find and write the
// one changed lot and the version.
func (f *Folio) Sell(ctx context.Context, s Sale) error {
	sec, err := f.security(s.Security)
	if err != nil {
		return err
	}
	return f.r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := u.Portfolios().Get(ctx, s.Portfolio)
		if err != nil {
			return err
		}
		_, err = p.Sell(sec, s.Quantity, s.On)
		return err
	}, f.opts...)
}

// Transfer implements Impl: both portfolios in one load, Sell and Buy, and
// the runner retries conflicts. With pessimistic (the suite's default) the
// load locks both rows in id order at READ COMMITTED (ForUpdate: FOR NO
// KEY UPDATE); without it the unit runs optimistically at the runner's
// REPEATABLE READ, the version checks riding with COMMIT.
func (f *Folio) Transfer(ctx context.Context, t Transfer) (int, error) {
	sec, err := f.security(t.Security)
	if err != nil {
		return 0, err
	}
	opts, load := f.opts, []uow.LoadOption(nil)
	if f.pessimistic {
		opts = append(slices.Clip(opts), uow.WithIsolation(pgx.ReadCommitted))
		load = append(load, uow.ForUpdate())
	}
	attempts := 0
	err = f.r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		attempts++
		ps, err := u.Portfolios().GetMany(ctx, []uuid.UUID{t.From, t.To}, load...)
		if err != nil {
			return err
		}
		sale, err := ps[0].Sell(sec, t.Quantity, t.On)
		if err != nil {
			return err
		}
		_, err = ps[1].Buy(sec, t.Quantity, sale.Cost.Div(t.Quantity), t.On)
		return err
	}, opts...)
	return max(attempts-1, 0), err
}

// Revalue implements Impl: one bulk statement at commit.
func (f *Folio) Revalue(ctx context.Context, quotes []Quote) error {
	return f.r.Do(ctx, func(_ context.Context, u *uow.Unit) error {
		return u.Securities().Revalue(quotes)
	}, f.opts...)
}

// Size implements Loaded.
func (l folioLoaded) Size() (int, int, int) {
	lots := 0
	for _, p := range l.portfolios {
		lots += p.NumInvestments()
	}
	return len(l.portfolios), lots, len(l.securities)
}

// View implements Loaded.
func (l folioLoaded) View() View {
	var v View
	for _, p := range l.portfolios {
		pv := PortfolioView{ID: p.ID(), Name: p.Name(), Currency: p.Currency(), Version: p.Version()}
		for lot := range p.Lots() {
			pv.Lots = append(pv.Lots, LotView{
				ID:         lot.ID(),
				SecurityID: lot.SecurityID(),
				Quantity:   decString(lot.Quantity()),
				UnitCost:   decString(lot.UnitCost()),
				AcquiredOn: dateString(lot.AcquiredOn()),
			})
		}
		v.Portfolios = append(v.Portfolios, pv)
	}
	for _, s := range l.securities {
		sv := SecurityView{ID: s.ID(), Symbol: s.Symbol(), Name: s.Name(), Currency: s.Currency()}
		if price, on, ok := s.LastPrice(); ok {
			sv.LastPrice, sv.PriceDate = decString(price), dateString(on)
		}
		v.Securities = append(v.Securities, sv)
	}
	v.Sort()
	return v
}
