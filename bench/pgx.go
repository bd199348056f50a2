package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
)

// PGX is the floor: SQL written by hand for each scenario, sent with the
// technique that costs the fewest round trips and the least work in Go.
//
//   - Every statement of a transaction that does not depend on the answer of
//     an earlier one goes out in one pgx.Batch (a pipeline): BEGIN rides with
//     the first reads and COMMIT with the writes, and a read-only
//     transaction is a single round trip, COMMIT included.
//   - Many rows travel as arrays: "= ANY($1)" to read them, unnest to write
//     them, inside the pipeline. COPY cannot join a pipeline, so it costs
//     two more round trips (BEGIN and the portfolio before it, COMMIT
//     after); for the 1,000 lots of SaveNew it was no faster in wall time
//     (COPY 38 ms, unnest 30 ms, p=0.09 over 6 runs) and took 55% more
//     client CPU and 12% more server CPU.
//   - Only the columns the scenario needs are selected, and rows are scanned
//     by hand into plain structs; the lots of many portfolios arrive sorted
//     by portfolio, so they are attached by merging, without a map.
//   - NUMERIC travels as shopspring decimals, through pgx-shopspring-decimal
//     (which folio's own codecs build on). Rows are scanned into its
//     pgxdecimal.Decimal, which pgx's numeric codec fills from the binary
//     value directly; a plain *decimal.Decimal target is an sql.Scanner,
//     which pgx 5.12 prefers over the package's scan wrapper: the value is
//     decoded, formatted as text and parsed again. Arrays of decimals go
//     the other way as text (decimal.String, sent for a numeric[]
//     parameter): pgx-shopspring-decimal's binary encoding splits each
//     value into base-10000 digits with math/big, which cost a third more
//     client CPU for the 10,000 prices of Revalue.
//   - UUIDs travel through pgUUID, which pgx's UUID codec encodes and scans
//     in binary directly. A plain google uuid.UUID goes the driver.Valuer
//     way: formatted as text, refused by the binary encoder (an error built
//     with fmt.Errorf), parsed back and encoded; and scanned through
//     sql.Scanner, formatted and parsed again. See pgUUID. (folio's
//     internal/pgcodec registers codecs for both types instead; the floor
//     does without folio's packages.)
//
// The pool is configured like folio's (pgx's default query mode with its
// statement cache, the counting tracer), with pgx-shopspring-decimal
// registered on every connection.
type PGX struct {
	pool *pgxpool.Pool
	// pessimistic selects the locking of Transfer: SELECT ... FOR UPDATE in
	// id order at READ COMMITTED (true) or REPEATABLE READ relying on its
	// first-updater-wins rule, with retries (false). See Transfer.
	pessimistic bool
}

// pgUUID is a uuid.UUID as pgx's UUID codec takes and gives it
// (pgtype.UUIDValuer, pgtype.UUIDScanner): 16 bytes copied, no text.
type pgUUID uuid.UUID

// UUIDValue implements pgtype.UUIDValuer.
func (u pgUUID) UUIDValue() (pgtype.UUID, error) { return pgtype.UUID{Bytes: u, Valid: true}, nil }

// ScanUUID implements pgtype.UUIDScanner.
func (u *pgUUID) ScanUUID(v pgtype.UUID) error {
	if !v.Valid {
		return fmt.Errorf("NULL uuid")
	}
	*u = v.Bytes
	return nil
}

// pgID and pgIDs convert arguments; pgScan converts a scan target.
func pgID(id uuid.UUID) pgUUID { return pgUUID(id) }

func pgIDs(ids []uuid.UUID) []pgUUID {
	out := make([]pgUUID, len(ids))
	for i, id := range ids {
		out[i] = pgUUID(id)
	}
	return out
}

func pgScan(id *uuid.UUID) *pgUUID { return (*pgUUID)(id) }

// dec and nullDec convert decimal scan targets.
func dec(d *decimal.Decimal) *pgxdecimal.Decimal { return (*pgxdecimal.Decimal)(d) }

func nullDec(d *decimal.NullDecimal) *pgxdecimal.NullDecimal { return (*pgxdecimal.NullDecimal)(d) }

// NewPGX returns the floor on pool. pessimistic chooses Transfer's locking.
func NewPGX(pool *pgxpool.Pool, pessimistic bool) *PGX {
	return &PGX{pool: pool, pessimistic: pessimistic}
}

// Name implements Impl.
func (*PGX) Name() string { return "pgx" }

type pgxPortfolio struct {
	ID       uuid.UUID
	Name     string
	Currency string
	Version  int64
	// LastSaleOn is the day of the latest sale, nil before the first.
	LastSaleOn *time.Time
	Lots       []pgxLot
}

type pgxLot struct {
	ID         uuid.UUID
	SecurityID uuid.UUID
	Quantity   decimal.Decimal
	UnitCost   decimal.Decimal
	AcquiredOn time.Time
}

func (l pgxLot) fifo() (uuid.UUID, time.Time, decimal.Decimal, decimal.Decimal) {
	return l.SecurityID, l.AcquiredOn, l.Quantity, l.UnitCost
}

type pgxSecurity struct {
	ID        uuid.UUID
	Symbol    string
	Name      string
	Currency  string
	LastPrice decimal.NullDecimal
	PriceDate pgtype.Date
}

type pgxLoaded struct {
	portfolios []pgxPortfolio
	securities map[uuid.UUID]pgxSecurity
}

const (
	pgxBeginRead  = "begin isolation level repeatable read read only"
	pgxBeginWrite = "begin isolation level repeatable read"

	pgxPortfoliosByIDs = `SELECT id, name, currency, version, last_sale_on FROM portfolio
WHERE id = ANY($1) ORDER BY id`
	pgxPortfoliosByIDsForUpdate = pgxPortfoliosByIDs + ` FOR UPDATE`
	pgxLotsByPortfolioIDs       = `SELECT portfolio_id, id, security_id, quantity, unit_cost, acquired_on FROM investment
WHERE portfolio_id = ANY($1) ORDER BY portfolio_id, acquired_on, id`
	pgxSecuritiesOfPortfolios = `SELECT id, symbol, name, currency, last_price, price_date FROM security
WHERE id IN (SELECT security_id FROM investment WHERE portfolio_id = ANY($1))`

	pgxPortfolioByID = `SELECT id, name, currency, version, last_sale_on FROM portfolio WHERE id = $1`
	pgxLotsOfOne     = `SELECT id, security_id, quantity, unit_cost, acquired_on FROM investment
WHERE portfolio_id = $1 ORDER BY acquired_on, id`

	pgxInsertPortfolio = `INSERT INTO portfolio (id, name, currency, version) VALUES ($1, $2, $3, 1)`
	pgxInsertLots      = `INSERT INTO investment (id, portfolio_id, security_id, quantity, unit_cost, acquired_on)
SELECT u.id, $2, u.security_id, u.quantity, u.unit_cost, u.acquired_on
FROM unnest($1::uuid[], $3::uuid[], $4::numeric[], $5::numeric[], $6::date[])
    AS u (id, security_id, quantity, unit_cost, acquired_on)`
	pgxInsertLot = `INSERT INTO investment (id, portfolio_id, security_id, quantity, unit_cost, acquired_on)
VALUES ($1, $2, $3, $4, $5, $6)`

	// The version is bumped without a "version = $n" predicate: these run
	// at REPEATABLE READ (or after SELECT ... FOR UPDATE), where a row
	// changed by another transaction since the snapshot makes the UPDATE
	// fail with 40001 instead of matching nothing. One statement for
	// several portfolios locks them in index (id) order.
	// The portfolio that sold ($2) records the day of its sale ($3).
	pgxBumpVersions = `UPDATE portfolio
SET version = version + 1, last_sale_on = CASE WHEN id = $2 THEN $3::date ELSE last_sale_on END, updated_at = now()
WHERE id = ANY($1)`
	pgxUpdateQuantity = `UPDATE investment SET quantity = $2, updated_at = now() WHERE id = $1`
	pgxDeleteLots     = `DELETE FROM investment WHERE id = ANY($1)`

	pgxUpdatePrices = `UPDATE security AS s
SET last_price = u.price, price_date = u.price_date, updated_at = now()
FROM unnest($1::text[], $2::numeric[], $3::date[]) AS u (symbol, price, price_date)
WHERE s.symbol = u.symbol`
)

// LoadMany implements Impl: one round trip carries BEGIN, the three
// selects and COMMIT.
func (x *PGX) LoadMany(ctx context.Context, ids []uuid.UUID) (Loaded, error) {
	arg := pgIDs(ids)
	b := &pgx.Batch{}
	b.Queue(pgxBeginRead)
	b.Queue(pgxPortfoliosByIDs, arg)
	b.Queue(pgxLotsByPortfolioIDs, arg)
	b.Queue(pgxSecuritiesOfPortfolios, arg)
	b.Queue("commit")
	br := x.pool.SendBatch(ctx, b)
	out, err := readLoadMany(br, len(ids))
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("pgx: load portfolios: %w", err)
	}
	return out, nil
}

func readLoadMany(br pgx.BatchResults, n int) (pgxLoaded, error) {
	var out pgxLoaded
	if _, err := br.Exec(); err != nil {
		return out, err
	}
	ps, err := scanPortfolios(br, n)
	if err != nil {
		return out, err
	}
	if err := scanLotsInto(br, ps); err != nil {
		return out, err
	}
	out.portfolios = ps

	rows, err := br.Query()
	if err != nil {
		return out, err
	}
	out.securities = make(map[uuid.UUID]pgxSecurity, n)
	var s pgxSecurity
	for rows.Next() {
		if err := rows.Scan(pgScan(&s.ID), &s.Symbol, &s.Name, &s.Currency, nullDec(&s.LastPrice), &s.PriceDate); err != nil {
			return out, err
		}
		out.securities[s.ID] = s
	}
	if err := rows.Err(); err != nil {
		return out, err
	}
	_, err = br.Exec()
	return out, err
}

func scanPortfolios(br pgx.BatchResults, n int) ([]pgxPortfolio, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	ps := make([]pgxPortfolio, 0, n)
	for rows.Next() {
		var p pgxPortfolio // afresh: LastSaleOn is scanned into where it points
		if err := rows.Scan(pgScan(&p.ID), &p.Name, &p.Currency, &p.Version, &p.LastSaleOn); err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

// scanLotsInto reads lots sorted by portfolio id and attaches them to ps,
// which is sorted by id too: a merge, with every lot in one backing array.
func scanLotsInto(br pgx.BatchResults, ps []pgxPortfolio) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	var (
		all []pgxLot
		pid uuid.UUID
		l   pgxLot
	)
	ends := make([]int, len(ps)) // ends[i]: one past the last lot of ps[i] in all
	i := 0
	for rows.Next() {
		if err := rows.Scan(pgScan(&pid), pgScan(&l.ID), pgScan(&l.SecurityID), dec(&l.Quantity), dec(&l.UnitCost), &l.AcquiredOn); err != nil {
			return err
		}
		for i < len(ps) && ps[i].ID != pid {
			ends[i] = len(all)
			i++
		}
		if i == len(ps) {
			return fmt.Errorf("lot %s of unknown portfolio %s", l.ID, pid)
		}
		all = append(all, l)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for ; i < len(ps); i++ {
		ends[i] = len(all)
	}
	start := 0
	for i := range ps {
		if ends[i] > start {
			ps[i].Lots = all[start:ends[i]:ends[i]]
		}
		start = ends[i]
	}
	return nil
}

// LoadOne implements Impl: BEGIN, the portfolio, its lots and COMMIT in
// one round trip.
func (x *PGX) LoadOne(ctx context.Context, id uuid.UUID) (Loaded, error) {
	b := &pgx.Batch{}
	b.Queue(pgxBeginRead)
	b.Queue(pgxPortfolioByID, pgID(id))
	b.Queue(pgxLotsOfOne, pgID(id))
	b.Queue("commit")
	br := x.pool.SendBatch(ctx, b)
	p, err := readOne(br)
	if err == nil {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("pgx: load portfolio %s: %w", id, err)
	}
	return pgxLoaded{portfolios: []pgxPortfolio{p}}, nil
}

// readOne reads BEGIN's answer, a portfolio and its lots.
func readOne(br pgx.BatchResults) (pgxPortfolio, error) {
	var p pgxPortfolio
	if _, err := br.Exec(); err != nil {
		return p, err
	}
	if err := br.QueryRow().Scan(pgScan(&p.ID), &p.Name, &p.Currency, &p.Version, &p.LastSaleOn); err != nil {
		return p, err
	}
	rows, err := br.Query()
	if err != nil {
		return p, err
	}
	var l pgxLot
	for rows.Next() {
		if err := rows.Scan(pgScan(&l.ID), pgScan(&l.SecurityID), dec(&l.Quantity), dec(&l.UnitCost), &l.AcquiredOn); err != nil {
			return p, err
		}
		p.Lots = append(p.Lots, l)
	}
	return p, rows.Err()
}

// SaveNew implements Impl: BEGIN, the portfolio, all lots as arrays through
// unnest, and COMMIT, in one round trip.
func (x *PGX) SaveNew(ctx context.Context, np *NewPortfolio) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	n := len(np.Lots)
	var (
		ids        = make([]pgUUID, n)
		securities = make([]pgUUID, n)
		quantities = make([]string, n) // as text: see PGX
		costs      = make([]string, n)
		days       = make([]time.Time, n)
	)
	for i, l := range np.Lots {
		lot, err := uuid.NewV7()
		if err != nil {
			return err
		}
		ids[i], securities[i] = pgUUID(lot), pgUUID(l.SecurityID)
		quantities[i], costs[i], days[i] = l.Quantity.String(), l.UnitCost.String(), l.AcquiredOn
	}
	b := &pgx.Batch{}
	b.Queue("begin")
	b.Queue(pgxInsertPortfolio, pgID(id), np.Name, np.Currency)
	b.Queue(pgxInsertLots, ids, pgID(id), securities, quantities, costs, days)
	b.Queue("commit")
	if err := x.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("pgx: save portfolio %q: %w", np.Name, err)
	}
	return nil
}

// inTx runs fn on one connection of the pool; if fn fails inside a
// transaction, it is rolled back before the connection goes back (the pool
// would otherwise close it).
func (x *PGX) inTx(ctx context.Context, fn func(*pgx.Conn) error) error {
	c, err := x.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	err = fn(c.Conn())
	if err != nil && c.Conn().PgConn().TxStatus() != 'I' {
		if _, rerr := c.Conn().Exec(context.WithoutCancel(ctx), "rollback"); rerr != nil {
			_ = c.Conn().Close(ctx)
		}
	}
	return err
}

// Sell implements Impl, in two round trips: BEGIN with the portfolio and
// its lots; then the version, the changed lots and COMMIT.
func (x *PGX) Sell(ctx context.Context, s Sale) error {
	_, err := retry(ctx, func() error {
		return x.inTx(ctx, func(c *pgx.Conn) error {
			b := &pgx.Batch{}
			b.Queue(pgxBeginWrite)
			b.Queue(pgxPortfolioByID, pgID(s.Portfolio))
			b.Queue(pgxLotsOfOne, pgID(s.Portfolio))
			br := c.SendBatch(ctx, b)
			p, err := readOne(br)
			if cerr := br.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if err := checkOrder(p.LastSaleOn, s.On); err != nil {
				return err
			}
			sale, err := sellFIFO(p.Lots, s.Security, s.Quantity, s.On)
			if err != nil {
				return err
			}
			b = &pgx.Batch{}
			b.Queue(pgxBumpVersions, []pgUUID{pgID(p.ID)}, pgID(p.ID), s.On)
			queueSale(b, p.Lots, sale)
			b.Queue("commit")
			return c.SendBatch(ctx, b).Close()
		})
	})
	if err != nil {
		return fmt.Errorf("pgx: sell: %w", err)
	}
	return nil
}

// queueSale queues the writes of a sale: one UPDATE per lot sold in part
// (usually one), one DELETE for the lots used up.
func queueSale(b *pgx.Batch, lots []pgxLot, s fifoSale) {
	for k, i := range s.changed {
		b.Queue(pgxUpdateQuantity, pgID(lots[i].ID), s.newQuantity[k])
	}
	if len(s.closed) > 0 {
		ids := make([]pgUUID, len(s.closed))
		for k, i := range s.closed {
			ids[k] = pgID(lots[i].ID)
		}
		b.Queue(pgxDeleteLots, ids)
	}
}

// Transfer implements Impl in two round trips, like folio: BEGIN with both
// portfolios and their lots; then the versions (in id order, one
// statement), the lot sold from, the lot bought and COMMIT.
//
// Two ways of keeping concurrent transfers apart were measured (see
// BENCHMARKS.md), and the faster one is the default:
//
//   - optimistic: REPEATABLE READ; a transfer that collides with another
//     one fails with 40001 when it updates the portfolio row, and is
//     retried. The work of the first round trip is lost.
//   - pessimistic: READ COMMITTED with SELECT ... ORDER BY id FOR UPDATE;
//     a transfer that collides waits for the row lock and goes on, never
//     retried (locks in id order cannot deadlock). The lots are read after
//     the locks are held, in the same pipeline, so they are current.
func (x *PGX) Transfer(ctx context.Context, t Transfer) (int, error) {
	ids := []pgUUID{pgID(t.From), pgID(t.To)}
	if compareUUID(t.From, t.To) > 0 {
		ids[0], ids[1] = ids[1], ids[0]
	}
	begin, lock := pgxBeginWrite, pgxPortfoliosByIDs
	if x.pessimistic {
		begin, lock = "begin", pgxPortfoliosByIDsForUpdate
	}
	retries, err := retry(ctx, func() error {
		return x.inTx(ctx, func(c *pgx.Conn) error {
			b := &pgx.Batch{}
			b.Queue(begin)
			b.Queue(lock, ids)
			b.Queue(pgxLotsByPortfolioIDs, ids)
			br := c.SendBatch(ctx, b)
			_, err := br.Exec()
			var ps []pgxPortfolio
			if err == nil {
				ps, err = scanPortfolios(br, 2)
			}
			if err == nil {
				err = scanLotsInto(br, ps)
			}
			if cerr := br.Close(); err == nil {
				err = cerr
			}
			if err != nil {
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
			sale, err := sellFIFO(from.Lots, t.Security, t.Quantity, t.On)
			if err != nil {
				return err
			}
			lot, err := uuid.NewV7()
			if err != nil {
				return err
			}
			b = &pgx.Batch{}
			b.Queue(pgxBumpVersions, ids, pgID(from.ID), t.On)
			queueSale(b, from.Lots, sale)
			b.Queue(pgxInsertLot, pgID(lot), pgID(to.ID), pgID(t.Security), t.Quantity, sale.cost.Div(t.Quantity), t.On)
			b.Queue("commit")
			return c.SendBatch(ctx, b).Close()
		})
	})
	if err != nil {
		return retries, fmt.Errorf("pgx: transfer: %w", err)
	}
	return retries, nil
}

// Revalue implements Impl: one UPDATE over unnest of three arrays. A single
// statement is atomic on its own, so there is no BEGIN and COMMIT; the row
// count is checked afterwards (an unknown symbol would be reported, but the
// other prices stay set: folio's version fails atomically instead).
func (x *PGX) Revalue(ctx context.Context, quotes []Quote) error {
	symbols := make([]string, len(quotes))
	prices := make([]string, len(quotes)) // as text: see PGX
	days := make([]time.Time, len(quotes))
	for i, q := range quotes {
		symbols[i], prices[i], days[i] = q.Symbol, q.Price.String(), q.Date
	}
	tag, err := x.pool.Exec(ctx, pgxUpdatePrices, symbols, prices, days)
	if err != nil {
		return fmt.Errorf("pgx: revalue: %w", err)
	}
	if tag.RowsAffected() != int64(len(quotes)) {
		return fmt.Errorf("pgx: revalue: %d of %d symbols found", tag.RowsAffected(), len(quotes))
	}
	return nil
}

// Size implements Loaded.
func (l pgxLoaded) Size() (int, int, int) {
	lots := 0
	for _, p := range l.portfolios {
		lots += len(p.Lots)
	}
	return len(l.portfolios), lots, len(l.securities)
}

// View implements Loaded.
func (l pgxLoaded) View() View {
	var v View
	for _, p := range l.portfolios {
		pv := PortfolioView{ID: p.ID, Name: p.Name, Currency: p.Currency, Version: p.Version}
		for _, lot := range p.Lots {
			pv.Lots = append(pv.Lots, LotView{
				ID:         lot.ID,
				SecurityID: lot.SecurityID,
				Quantity:   decString(lot.Quantity),
				UnitCost:   decString(lot.UnitCost),
				AcquiredOn: dateString(lot.AcquiredOn),
			})
		}
		v.Portfolios = append(v.Portfolios, pv)
	}
	for _, s := range l.securities {
		sv := SecurityView{ID: s.ID, Symbol: s.Symbol, Name: s.Name, Currency: s.Currency}
		if s.PriceDate.Valid {
			sv.LastPrice, sv.PriceDate = priceView(s.LastPrice, &s.PriceDate.Time)
		}
		v.Securities = append(v.Securities, sv)
	}
	v.Sort()
	return v
}
