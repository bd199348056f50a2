package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// Bun runs the scenarios the way bun's documentation writes them: models
// with relations, Relation for the lots (a has-many query) and their
// securities (a belongs-to, joined into that query), RunInTx for
// atomicity, and bun's bulk UPDATE from a VALUES list for Revalue.
//
// Connection: bun ships its own driver (pgdriver), but it has no hook for a
// pgx tracer, so it could not be counted like the others, and it would
// measure a second wire-protocol implementation instead of the ORM. bun is
// given pgx's database/sql driver instead (stdlib.OpenDB), which bun
// documents as supported. bun formats every argument into the SQL text
// itself and sends no bind parameters, so every statement with a new value
// is a new SQL text: pgx's default statement cache would prepare each one
// (an extra round trip every time, steady state or not) and evict the
// cache.
// bun's documentation therefore configures pgx with the simple protocol
// (QueryExecModeSimpleProtocol, formerly PreferSimpleProtocol): one round
// trip per statement, no preparing. The pool is built that way in the
// tests.
type Bun struct {
	db *bun.DB
	// pessimistic: see PGX.pessimistic.
	pessimistic bool
}

// NewBun returns the bun implementation on sqlDB.
func NewBun(sqlDB *sql.DB, pessimistic bool) *Bun {
	return &Bun{db: bun.NewDB(sqlDB, pgdialect.New()), pessimistic: pessimistic}
}

// Name implements Impl.
func (*Bun) Name() string { return "bun" }

type bunPortfolio struct {
	bun.BaseModel `bun:"table:portfolio,alias:p"`

	ID          uuid.UUID       `bun:"id,pk,type:uuid"`
	Name        string          `bun:"name"`
	Currency    string          `bun:"currency"`
	Version     int64           `bun:"version"`
	LastSaleOn  *time.Time      `bun:"last_sale_on,type:date"`
	CreatedAt   time.Time       `bun:"created_at,nullzero,default:now()"`
	UpdatedAt   time.Time       `bun:"updated_at,nullzero,default:now()"`
	Investments []bunInvestment `bun:"rel:has-many,join:id=portfolio_id"`
}

type bunInvestment struct {
	bun.BaseModel `bun:"table:investment,alias:i"`

	ID          uuid.UUID       `bun:"id,pk,type:uuid"`
	PortfolioID uuid.UUID       `bun:"portfolio_id,type:uuid"`
	SecurityID  uuid.UUID       `bun:"security_id,type:uuid"`
	Quantity    decimal.Decimal `bun:"quantity,type:numeric"`
	UnitCost    decimal.Decimal `bun:"unit_cost,type:numeric"`
	AcquiredOn  time.Time       `bun:"acquired_on,type:date"`
	CreatedAt   time.Time       `bun:"created_at,nullzero,default:now()"`
	UpdatedAt   time.Time       `bun:"updated_at,nullzero,default:now()"`
	Security    *bunSecurity    `bun:"rel:belongs-to,join:security_id=id"`
}

func (l bunInvestment) fifo() (uuid.UUID, time.Time, decimal.Decimal, decimal.Decimal) {
	return l.SecurityID, l.AcquiredOn, l.Quantity, l.UnitCost
}

type bunSecurity struct {
	bun.BaseModel `bun:"table:security,alias:s"`

	ID        uuid.UUID           `bun:"id,pk,type:uuid"`
	Symbol    string              `bun:"symbol"`
	Name      string              `bun:"name"`
	Currency  string              `bun:"currency"`
	LastPrice decimal.NullDecimal `bun:"last_price,type:numeric"`
	PriceDate *time.Time          `bun:"price_date,type:date"`
	CreatedAt time.Time           `bun:"created_at,nullzero,default:now()"`
	UpdatedAt time.Time           `bun:"updated_at,nullzero,default:now()"`
}

// bunQuote is a row of the VALUES list of Revalue.
type bunQuote struct {
	Symbol    string          `bun:"symbol,type:text"`
	LastPrice decimal.Decimal `bun:"last_price,type:numeric"`
	PriceDate time.Time       `bun:"price_date,type:date"`
}

type bunLoaded struct{ portfolios []bunPortfolio }

var (
	bunReadTx  = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	bunWriteTx = &sql.TxOptions{Isolation: sql.LevelRepeatableRead}
)

func bunFIFO(q *bun.SelectQuery) *bun.SelectQuery { return q.OrderExpr("i.acquired_on, i.id") }

// LoadMany implements Impl: BEGIN, portfolios, lots joined with their
// securities, COMMIT.
func (x *Bun) LoadMany(ctx context.Context, ids []uuid.UUID) (Loaded, error) {
	var ps []bunPortfolio
	err := x.db.RunInTx(ctx, bunReadTx, func(ctx context.Context, tx bun.Tx) error {
		return tx.NewSelect().Model(&ps).
			Relation("Investments", bunFIFO).Relation("Investments.Security").
			Where("p.id IN (?)", bun.In(ids)).Scan(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("bun: load portfolios: %w", err)
	}
	if len(ps) != len(ids) {
		return nil, fmt.Errorf("bun: found %d of %d portfolios", len(ps), len(ids))
	}
	return bunLoaded{ps}, nil
}

// LoadOne implements Impl: BEGIN, the portfolio, its lots, COMMIT.
func (x *Bun) LoadOne(ctx context.Context, id uuid.UUID) (Loaded, error) {
	var p bunPortfolio
	err := x.db.RunInTx(ctx, bunReadTx, func(ctx context.Context, tx bun.Tx) error {
		return tx.NewSelect().Model(&p).Relation("Investments", bunFIFO).
			Where("p.id = ?", id).Scan(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("bun: load portfolio %s: %w", id, err)
	}
	return bunLoaded{[]bunPortfolio{p}}, nil
}

// SaveNew implements Impl: bun inserts no relations on its own, so the
// portfolio and then its lots (one multi-row INSERT), in a transaction.
func (x *Bun) SaveNew(ctx context.Context, np *NewPortfolio) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	p := bunPortfolio{ID: id, Name: np.Name, Currency: np.Currency, Version: 1}
	lots := make([]bunInvestment, len(np.Lots))
	for i, l := range np.Lots {
		lotID, err := uuid.NewV7()
		if err != nil {
			return err
		}
		lots[i] = bunInvestment{ID: lotID, PortfolioID: id, SecurityID: l.SecurityID,
			Quantity: l.Quantity, UnitCost: l.UnitCost, AcquiredOn: l.AcquiredOn}
	}
	err = x.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&p).Exec(ctx); err != nil {
			return err
		}
		_, err := tx.NewInsert().Model(&lots).Exec(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("bun: save portfolio %q: %w", np.Name, err)
	}
	return nil
}

// Sell implements Impl: the portfolio with its lots, the sale in Go, then
// the version and the changed lots, each its own statement.
func (x *Bun) Sell(ctx context.Context, s Sale) error {
	_, err := retry(ctx, func() error {
		return x.db.RunInTx(ctx, bunWriteTx, func(ctx context.Context, tx bun.Tx) error {
			var p bunPortfolio
			err := tx.NewSelect().Model(&p).Relation("Investments", bunFIFO).
				Where("p.id = ?", s.Portfolio).Scan(ctx)
			if err != nil {
				return err
			}
			if err := checkOrder(p.LastSaleOn, s.On); err != nil {
				return err
			}
			sale, err := sellFIFO(p.Investments, s.Security, s.Quantity, s.On)
			if err != nil {
				return err
			}
			if err := bunBumpVersion(ctx, tx, &p, &s.On); err != nil {
				return err
			}
			return bunApplySale(ctx, tx, p.Investments, sale)
		})
	})
	if err != nil {
		return fmt.Errorf("bun: sell: %w", err)
	}
	return nil
}

// bunBumpVersion increments p's version if it is still the one loaded, and
// records the day of its sale if it sold (sold not nil).
func bunBumpVersion(ctx context.Context, tx bun.Tx, p *bunPortfolio, sold *time.Time) error {
	q := tx.NewUpdate().Model((*bunPortfolio)(nil)).
		Set("version = version + 1").Set("updated_at = now()")
	if sold != nil {
		q = q.Set("last_sale_on = ?", *sold)
	}
	res, err := q.Where("id = ? AND version = ?", p.ID, p.Version).Exec(ctx)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errConflict
	}
	return nil
}

func bunApplySale(ctx context.Context, tx bun.Tx, lots []bunInvestment, s fifoSale) error {
	for k, i := range s.changed {
		_, err := tx.NewUpdate().Model((*bunInvestment)(nil)).
			Set("quantity = ?", s.newQuantity[k]).Set("updated_at = now()").
			Where("id = ?", lots[i].ID).Exec(ctx)
		if err != nil {
			return err
		}
	}
	if len(s.closed) > 0 {
		ids := make([]uuid.UUID, len(s.closed))
		for k, i := range s.closed {
			ids[k] = lots[i].ID
		}
		_, err := tx.NewDelete().Model((*bunInvestment)(nil)).Where("id IN (?)", bun.In(ids)).Exec(ctx)
		if err != nil {
			return err
		}
	}
	return nil
}

// Transfer implements Impl with the locking PGX.Transfer uses (see there):
// pessimistic, FOR UPDATE on the portfolios in id order at READ
// COMMITTED; or optimistic at REPEATABLE READ with version predicates.
// Versions are bumped first, in id order.
func (x *Bun) Transfer(ctx context.Context, t Transfer) (int, error) {
	opts := bunWriteTx
	if x.pessimistic {
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	ids := []uuid.UUID{t.From, t.To}
	retries, err := retry(ctx, func() error {
		return x.db.RunInTx(ctx, opts, func(ctx context.Context, tx bun.Tx) error {
			var ps []bunPortfolio
			q := tx.NewSelect().Model(&ps).Relation("Investments", bunFIFO).
				Where("p.id IN (?)", bun.In(ids)).Order("p.id")
			if x.pessimistic {
				q = q.For("UPDATE OF p")
			}
			if err := q.Scan(ctx); err != nil {
				return err
			}
			if len(ps) != 2 {
				return fmt.Errorf("found %d of 2 portfolios", len(ps))
			}
			from, to := &ps[0], &ps[1]
			if from.ID != t.From {
				from, to = to, from
			}
			if err := errors.Join(checkOrder(from.LastSaleOn, t.On), checkOrder(to.LastSaleOn, t.On)); err != nil {
				return err
			}
			sale, err := sellFIFO(from.Investments, t.Security, t.Quantity, t.On)
			if err != nil {
				return err
			}
			if x.pessimistic {
				_, err = tx.NewUpdate().Model((*bunPortfolio)(nil)).
					Set("version = version + 1").Set("updated_at = now()").
					Set("last_sale_on = CASE WHEN id = ? THEN ?::date ELSE last_sale_on END", from.ID, t.On).
					Where("id IN (?)", bun.In(ids)).Exec(ctx)
			} else {
				err = bunBumpVersion(ctx, tx, &ps[0], soldBy(&ps[0], from, t.On))
				if err == nil {
					err = bunBumpVersion(ctx, tx, &ps[1], soldBy(&ps[1], from, t.On))
				}
			}
			if err != nil {
				return err
			}
			if err := bunApplySale(ctx, tx, from.Investments, sale); err != nil {
				return err
			}
			lotID, err := uuid.NewV7()
			if err != nil {
				return err
			}
			lot := bunInvestment{ID: lotID, PortfolioID: to.ID, SecurityID: t.Security,
				Quantity: t.Quantity, UnitCost: sale.cost.Div(t.Quantity), AcquiredOn: t.On}
			_, err = tx.NewInsert().Model(&lot).Exec(ctx)
			return err
		})
	})
	if err != nil {
		return retries, fmt.Errorf("bun: transfer: %w", err)
	}
	return retries, nil
}

// Revalue implements Impl with bun's bulk update: UPDATE ... FROM a VALUES
// list in a CTE, one statement (atomic on its own, so no transaction); the
// row count is checked afterwards, as in PGX.Revalue.
func (x *Bun) Revalue(ctx context.Context, quotes []Quote) error {
	rows := make([]bunQuote, len(quotes))
	for i, q := range quotes {
		rows[i] = bunQuote{Symbol: q.Symbol, LastPrice: q.Price, PriceDate: q.Date}
	}
	res, err := x.db.NewUpdate().
		With("_data", x.db.NewValues(&rows)).
		Model((*bunSecurity)(nil)).TableExpr("_data").
		Set("last_price = _data.last_price").
		Set("price_date = _data.price_date").
		Set("updated_at = now()").
		Where("s.symbol = _data.symbol").
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("bun: revalue: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != int64(len(quotes)) {
		return fmt.Errorf("bun: revalue: %d of %d symbols found (%v)", n, len(quotes), err)
	}
	return nil
}

// Size implements Loaded.
func (l bunLoaded) Size() (int, int, int) {
	lots := 0
	secs := map[uuid.UUID]bool{}
	for _, p := range l.portfolios {
		lots += len(p.Investments)
		for _, lot := range p.Investments {
			if lot.Security != nil {
				secs[lot.Security.ID] = true
			}
		}
	}
	return len(l.portfolios), lots, len(secs)
}

// View implements Loaded.
func (l bunLoaded) View() View {
	var v View
	secs := map[uuid.UUID]SecurityView{}
	for _, p := range l.portfolios {
		pv := PortfolioView{ID: p.ID, Name: p.Name, Currency: p.Currency, Version: p.Version}
		for _, lot := range p.Investments {
			pv.Lots = append(pv.Lots, LotView{
				ID:         lot.ID,
				SecurityID: lot.SecurityID,
				Quantity:   decString(lot.Quantity),
				UnitCost:   decString(lot.UnitCost),
				AcquiredOn: dateString(lot.AcquiredOn),
			})
			if s := lot.Security; s != nil {
				sv := SecurityView{ID: s.ID, Symbol: s.Symbol, Name: s.Name, Currency: s.Currency}
				sv.LastPrice, sv.PriceDate = priceView(s.LastPrice, s.PriceDate)
				secs[s.ID] = sv
			}
		}
		v.Portfolios = append(v.Portfolios, pv)
	}
	for _, s := range secs {
		v.Securities = append(v.Securities, s)
	}
	v.Sort()
	return v
}
