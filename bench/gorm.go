package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

// GORM runs the scenarios the way GORM's documentation writes them: models
// with associations, Preload for the lots (and "Investments.Security" for
// their securities), Create with the lots as an association,
// db.Transaction for atomicity.
//
// Settings (GORM's performance guide lists the first two):
//
//   - PrepareStmt is off, although the guide recommends it: measured here,
//     it made GORM slower in every scenario. Every scenario runs in a
//     transaction, and a statement GORM first prepares inside one is cached
//     bound to that transaction, so database/sql prepares it again in every
//     later transaction (go-gorm/gorm#4644, golang/go#28130) and pgx's
//     stdlib deallocates it when the transaction ends, a round trip the
//     tracer cannot see: Sell took 10 counted round trips instead of 6, and
//     Transfer 1.3 ms instead of 0.9 ms, with twice the server CPU. With it
//     off, pgx's own statement cache prepares each SQL text once per
//     connection, which is what PrepareStmt is for. NewGORM takes the
//     setting, to measure it again.
//   - SkipDefaultTransaction: true stops GORM from wrapping every single
//     write in a transaction of its own. Every write here runs inside an
//     explicit db.Transaction anyway (atomicity is part of each scenario),
//     where GORM opens no extra one, so the setting changes nothing here;
//     it is set because it is the documented speed setting.
//   - A silent logger: the default one formats and prints every query slower
//     than 200ms, which the bulk scenarios are.
//
// GORM's PostgreSQL driver is given a *sql.DB from pgx's stdlib, built with
// stdlib.OpenDB from the same kind of pgx.ConnConfig as everyone's (the
// counting tracer, pgx's default statement cache); that is what the driver
// builds itself from a DSN. GORM binds arguments as parameters ($1, $2...),
// so its SQL texts repeat and the statement cache works for it.
//
// Changes are written the way a GORM user who cares writes them: only the
// changed lot (Model(&lot).Update), not Save of the whole aggregate, which
// would rewrite all of its lots; the version with an explicit
// "version = ?" predicate and a RowsAffected check (GORM's optimistic
// locking plugin does the same).
type GORM struct {
	db *gorm.DB
	// pessimistic: see PGX.pessimistic.
	pessimistic bool
}

// NewGORM returns the GORM implementation on sqlDB, with GORM's
// PrepareStmt mode if prepareStmt.
func NewGORM(sqlDB *sql.DB, prepareStmt, pessimistic bool) (*GORM, error) {
	db, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), &gorm.Config{
		PrepareStmt:            prepareStmt,
		SkipDefaultTransaction: true,
		Logger:                 logger.Discard,
	})
	if err != nil {
		return nil, err
	}
	return &GORM{db: db, pessimistic: pessimistic}, nil
}

// Name implements Impl.
func (*GORM) Name() string { return "gorm" }

type gormPortfolio struct {
	ID          uuid.UUID `gorm:"type:uuid;primaryKey"`
	Name        string
	Currency    string
	Version     int64
	LastSaleOn  *time.Time `gorm:"type:date"`
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Investments []gormInvestment `gorm:"foreignKey:PortfolioID"`
}

func (gormPortfolio) TableName() string { return "portfolio" }

type gormInvestment struct {
	ID          uuid.UUID `gorm:"type:uuid;primaryKey"`
	PortfolioID uuid.UUID `gorm:"type:uuid"`
	SecurityID  uuid.UUID `gorm:"type:uuid"`
	Quantity    decimal.Decimal
	UnitCost    decimal.Decimal
	AcquiredOn  time.Time `gorm:"type:date"`
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Security    *gormSecurity `gorm:"foreignKey:SecurityID"`
}

func (gormInvestment) TableName() string { return "investment" }

func (l gormInvestment) fifo() (uuid.UUID, time.Time, decimal.Decimal, decimal.Decimal) {
	return l.SecurityID, l.AcquiredOn, l.Quantity, l.UnitCost
}

type gormSecurity struct {
	ID        uuid.UUID `gorm:"type:uuid;primaryKey"`
	Symbol    string
	Name      string
	Currency  string
	LastPrice decimal.NullDecimal
	PriceDate *time.Time `gorm:"type:date"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (gormSecurity) TableName() string { return "security" }

type gormLoaded struct{ portfolios []gormPortfolio }

var (
	gormReadTx  = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	gormWriteTx = &sql.TxOptions{Isolation: sql.LevelRepeatableRead}
)

// fifoOrder is the Preload condition that returns lots in FIFO order.
func fifoOrder(db *gorm.DB) *gorm.DB { return db.Order("acquired_on, id") }

// LoadMany implements Impl: BEGIN, portfolios, lots, securities, COMMIT.
func (g *GORM) LoadMany(ctx context.Context, ids []uuid.UUID) (Loaded, error) {
	var ps []gormPortfolio
	err := g.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return tx.Preload("Investments", fifoOrder).Preload("Investments.Security").
			Where("id IN ?", ids).Find(&ps).Error
	}, gormReadTx)
	if err != nil {
		return nil, fmt.Errorf("gorm: load portfolios: %w", err)
	}
	if len(ps) != len(ids) {
		return nil, fmt.Errorf("gorm: found %d of %d portfolios", len(ps), len(ids))
	}
	return gormLoaded{ps}, nil
}

// LoadOne implements Impl: BEGIN, the portfolio, its lots, COMMIT.
func (g *GORM) LoadOne(ctx context.Context, id uuid.UUID) (Loaded, error) {
	var p gormPortfolio
	err := g.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return tx.Preload("Investments", fifoOrder).Take(&p, "id = ?", id).Error
	}, gormReadTx)
	if err != nil {
		return nil, fmt.Errorf("gorm: load portfolio %s: %w", id, err)
	}
	return gormLoaded{[]gormPortfolio{p}}, nil
}

// SaveNew implements Impl: Create saves the portfolio, then its lots as
// one multi-row INSERT (GORM's association upsert), inside a transaction.
func (g *GORM) SaveNew(ctx context.Context, np *NewPortfolio) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	p := gormPortfolio{ID: id, Name: np.Name, Currency: np.Currency, Version: 1,
		Investments: make([]gormInvestment, len(np.Lots))}
	for i, l := range np.Lots {
		lotID, err := uuid.NewV7()
		if err != nil {
			return err
		}
		p.Investments[i] = gormInvestment{ID: lotID, PortfolioID: id, SecurityID: l.SecurityID,
			Quantity: l.Quantity, UnitCost: l.UnitCost, AcquiredOn: l.AcquiredOn}
	}
	err = g.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return tx.Create(&p).Error
	})
	if err != nil {
		return fmt.Errorf("gorm: save portfolio %q: %w", np.Name, err)
	}
	return nil
}

// Sell implements Impl: Preload, the sale in Go, then the changed lots and
// the version, each its own statement.
func (g *GORM) Sell(ctx context.Context, s Sale) error {
	_, err := retry(ctx, func() error {
		return g.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var p gormPortfolio
			if err := tx.Preload("Investments", fifoOrder).Take(&p, "id = ?", s.Portfolio).Error; err != nil {
				return err
			}
			if err := checkOrder(p.LastSaleOn, s.On); err != nil {
				return err
			}
			sale, err := sellFIFO(p.Investments, s.Security, s.Quantity, s.On)
			if err != nil {
				return err
			}
			if err := g.bumpVersion(tx, &p, &s.On); err != nil {
				return err
			}
			return g.applySale(tx, p.Investments, sale)
		}, gormWriteTx)
	})
	if err != nil {
		return fmt.Errorf("gorm: sell: %w", err)
	}
	return nil
}

// bumpVersion increments p's version if it is still the one loaded, and
// records the day of its sale if it sold (sold not nil). The model is a
// bare gormPortfolio: Update on p itself would also save its loaded lots,
// as one INSERT ... ON CONFLICT of all of them.
func (g *GORM) bumpVersion(tx *gorm.DB, p *gormPortfolio, sold *time.Time) error {
	set := map[string]any{"version": gorm.Expr("version + 1")}
	if sold != nil {
		set["last_sale_on"] = *sold
	}
	res := tx.Model(&gormPortfolio{}).Where("id = ? AND version = ?", p.ID, p.Version).Updates(set)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return errConflict
	}
	return nil
}

func (g *GORM) applySale(tx *gorm.DB, lots []gormInvestment, s fifoSale) error {
	for k, i := range s.changed {
		if err := tx.Model(&lots[i]).Update("quantity", s.newQuantity[k]).Error; err != nil {
			return err
		}
	}
	if len(s.closed) > 0 {
		ids := make([]uuid.UUID, len(s.closed))
		for k, i := range s.closed {
			ids[k] = lots[i].ID
		}
		if err := tx.Delete(&gormInvestment{}, "id IN ?", ids).Error; err != nil {
			return err
		}
	}
	return nil
}

// Transfer implements Impl with the locking PGX.Transfer uses (see there):
// pessimistic, clause.Locking on the portfolios in id order at READ
// COMMITTED; or optimistic at REPEATABLE READ with version predicates.
// Versions are bumped first, in id order, so that row locks are always
// taken in the same order.
func (g *GORM) Transfer(ctx context.Context, t Transfer) (int, error) {
	opts := gormWriteTx
	if g.pessimistic {
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	retries, err := retry(ctx, func() error {
		return g.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			q := tx.Preload("Investments", fifoOrder).Order("id")
			if g.pessimistic {
				q = q.Clauses(clause.Locking{Strength: "UPDATE"})
			}
			var ps []gormPortfolio
			if err := q.Find(&ps, "id IN ?", []uuid.UUID{t.From, t.To}).Error; err != nil {
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
			if g.pessimistic {
				err = tx.Model(&gormPortfolio{}).Where("id IN ?", []uuid.UUID{ps[0].ID, ps[1].ID}).
					Updates(map[string]any{
						"version":      gorm.Expr("version + 1"),
						"last_sale_on": gorm.Expr("CASE WHEN id = ? THEN ?::date ELSE last_sale_on END", from.ID, t.On),
					}).Error
			} else {
				err = g.bumpVersion(tx, &ps[0], soldBy(&ps[0], from, t.On))
				if err == nil {
					err = g.bumpVersion(tx, &ps[1], soldBy(&ps[1], from, t.On))
				}
			}
			if err != nil {
				return err
			}
			if err := g.applySale(tx, from.Investments, sale); err != nil {
				return err
			}
			lotID, err := uuid.NewV7()
			if err != nil {
				return err
			}
			return tx.Create(&gormInvestment{ID: lotID, PortfolioID: to.ID, SecurityID: t.Security,
				Quantity: t.Quantity, UnitCost: sale.cost.Div(t.Quantity), AcquiredOn: t.On}).Error
		}, opts)
	})
	if err != nil {
		return retries, fmt.Errorf("gorm: transfer: %w", err)
	}
	return retries, nil
}

// gormRevalueBatch keeps each upsert under PostgreSQL's 65,535 bind
// parameters: 8 columns × 5,000 rows.
const gormRevalueBatch = 5000

// Revalue implements Impl. GORM has no bulk UPDATE with a value per row: the
// documented choices are an Update per row (10,000 round trips here) or
// loading the rows and saving the slice, which GORM turns into INSERT ...
// ON CONFLICT (id) DO UPDATE. The second is far faster and is used:
// Save(&slice) with the batch size a slice this long needs, and only the
// changed columns in the DO UPDATE.
func (g *GORM) Revalue(ctx context.Context, quotes []Quote) error {
	err := g.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		symbols := make([]string, len(quotes))
		bySymbol := make(map[string]*Quote, len(quotes))
		for i := range quotes {
			symbols[i] = quotes[i].Symbol
			bySymbol[quotes[i].Symbol] = &quotes[i]
		}
		var secs []gormSecurity
		if err := tx.Where("symbol IN ?", symbols).Find(&secs).Error; err != nil {
			return err
		}
		if len(secs) != len(quotes) {
			return fmt.Errorf("%d of %d symbols found", len(secs), len(quotes))
		}
		now := time.Now()
		for i := range secs {
			q := bySymbol[secs[i].Symbol]
			day := q.Date
			secs[i].LastPrice = decimal.NullDecimal{Decimal: q.Price, Valid: true}
			secs[i].PriceDate = &day
			secs[i].UpdatedAt = now
		}
		return tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "id"}},
			DoUpdates: clause.AssignmentColumns([]string{"last_price", "price_date", "updated_at"}),
		}).CreateInBatches(&secs, gormRevalueBatch).Error
	}, gormWriteTx)
	if err != nil {
		return fmt.Errorf("gorm: revalue: %w", err)
	}
	return nil
}

// Size implements Loaded.
func (l gormLoaded) Size() (int, int, int) {
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
func (l gormLoaded) View() View {
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
