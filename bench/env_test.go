package bench

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/shopspring/decimal"

	"github.com/folio-dev/folio/internal/migrate"
	"github.com/folio-dev/folio/internal/pglocal"
	"github.com/folio-dev/folio/internal/uow"
)

// EnvURL names the environment variable that points the suite at an
// existing database instead of a throwaway server. The suite empties its
// tables (security, portfolio, investment) over and over: never point it at
// data you want to keep.
const EnvURL = "BENCH_DATABASE_URL"

// poolSize is every implementation's connection limit: the 16 goroutines
// of BenchmarkTransfer each hold one.
const poolSize = 16

var (
	ctx  = context.Background()
	day0 = time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
)

// serverSettings are those of the throwaway server. Durability stays at
// PostgreSQL's defaults (fsync, synchronous_commit and full_page_writes on):
// a commit waits for its WAL flush, as it would in production.
var serverSettings = map[string]string{
	"max_connections": "100",
	"shared_buffers":  "256MB",
}

// env is what every test and benchmark shares: one database, an
// administrative pool for setup and checks, and the four implementations,
// each on a pool of its own with a Counter of its own.
type env struct {
	admin      *pgxpool.Pool
	impls      []handle
	folio      *Folio
	securities []security // 10,000, in id order
	cpu        cpuClock
	closers    []func()
}

// handle is an implementation with the counter on its connections.
type handle struct {
	Impl
	counter *Counter
}

type security struct {
	id     uuid.UUID
	symbol string
}

var (
	envOnce   sync.Once
	sharedEnv *env
	envErr    error
	server    *pglocal.Server
)

func TestMain(m *testing.M) {
	flag.Parse()
	// Benchmarks start the server before the first result line, so that
	// the settings printed by setUp head the output (benchstat shows them
	// as configuration); tests start it only if one needs it, so that
	// "go test -run '^$'" stays quick.
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		if _, err := getEnv(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if sharedEnv != nil {
		for _, c := range sharedEnv.closers {
			c()
		}
	}
	if server != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := server.Stop(sctx); err != nil {
			fmt.Fprintf(os.Stderr, "bench: stop server: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
		cancel()
	}
	os.Exit(code)
}

// getEnv sets the environment up once.
func getEnv() (*env, error) {
	envOnce.Do(func() { sharedEnv, envErr = setUp() })
	return sharedEnv, envErr
}

// useEnv is getEnv for a test or benchmark.
func useEnv(tb testing.TB) *env {
	tb.Helper()
	e, err := getEnv()
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func setUp() (*env, error) {
	url, err := databaseURL()
	if err != nil {
		return nil, err
	}
	e := &env{}
	ok := false
	defer func() {
		if !ok {
			for _, c := range e.closers {
				c()
			}
		}
	}()

	e.admin, err = newPool(url, 4, func(c *pgxpool.Config) { c.AfterConnect = registerDecimal })
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, e.admin.Close)
	mig, err := migrate.New(e.admin)
	if err != nil {
		return nil, err
	}
	_, err = mig.Up(ctx)
	_ = mig.Close()
	if err != nil {
		return nil, err
	}
	if err := e.printSettings(); err != nil {
		return nil, err
	}
	e.cpu = e.newCPUClock()
	if err := e.seedSecurities(10_000); err != nil {
		return nil, err
	}

	// folio: the runner's pool, through uow.ConfigurePool (which registers
	// folio's codecs and adds uow's own tracer beside the counter).
	folioCounter := &Counter{}
	folioPool, err := newPool(url, poolSize, func(c *pgxpool.Config) {
		c.ConnConfig.Tracer = folioCounter
		uow.ConfigurePool(c)
	})
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, folioPool.Close)
	if e.folio, err = NewFolio(folioPool, pessimisticTransfers); err != nil {
		return nil, err
	}
	ids := make([]uuid.UUID, len(e.securities))
	for i, s := range e.securities {
		ids[i] = s.id
	}
	if err := e.folio.CacheSecurities(ctx, ids); err != nil {
		return nil, err
	}

	// The floor: a pgxpool like folio's, without uow.
	pgxCounter := &Counter{}
	pgxPool, err := newPool(url, poolSize, func(c *pgxpool.Config) {
		c.ConnConfig.Tracer = pgxCounter
		c.AfterConnect = registerDecimal
	})
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, pgxPool.Close)

	// GORM: database/sql over pgx's stdlib, pgx's default query mode.
	gormCounter := &Counter{}
	gormDB, err := openDB(url, gormCounter, pgx.QueryExecModeCacheStatement)
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, func() { _ = gormDB.Close() })
	gormImpl, err := NewGORM(gormDB, gormPrepareStmt, pessimisticTransfers)
	if err != nil {
		return nil, err
	}

	// bun: the same, with the simple protocol bun's documentation sets
	// for pgx (see Bun).
	bunCounter := &Counter{}
	bunDB, err := openDB(url, bunCounter, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, func() { _ = bunDB.Close() })

	e.impls = []handle{
		{e.folio, folioCounter},
		{NewPGX(pgxPool, pessimisticTransfers), pgxCounter},
		{gormImpl, gormCounter},
		{NewBun(bunDB, pessimisticTransfers), bunCounter},
	}
	names := make([]string, 0, len(e.impls))
	for _, h := range e.order() {
		names = append(names, h.Name())
	}
	// Not a "key: value" line: benchstat would split its tables by it.
	fmt.Printf("this round runs the implementations in the order %s\n", strings.Join(names, ", "))
	ok = true
	return e, nil
}

// EnvRound names the variable that run.sh sets to the number of the round.
const EnvRound = "BENCH_ROUND"

// order returns the implementations in the order the benchmarks run them
// in this round: row round-1 of a balanced Latin square (a Williams
// design), so that over as many rounds as there are implementations each
// runs first once and directly after each of the others once. Without it
// one would always follow the same other, and be charged the server's
// deferred work on that one's writes (checkpoints, autovacuum: the server
// CPU counts every server process) and the dead rows it left, every
// round. A rotation would not do: it keeps who follows whom.
func (e *env) order() []handle {
	round, _ := strconv.Atoi(os.Getenv(EnvRound)) // 1, 2, ... from run.sh; 0 outside it
	row := balancedOrder(len(e.impls), max(round-1, 0))
	out := make([]handle, len(row))
	for i, k := range row {
		out[i] = e.impls[k]
	}
	return out
}

// balancedOrder returns row r (mod n) of the balanced Latin square of
// order n (n even): the first row is 0, 1, n-1, 2, n-2, ..., and row r adds
// r to each, mod n. Across the n rows every ordered pair of neighbours
// occurs exactly once.
func balancedOrder(n, r int) []int {
	row := make([]int, n)
	lo, hi := 1, n-1
	for i := 1; i < n; i++ {
		if i%2 == 1 {
			row[i] = lo
			lo++
		} else {
			row[i] = hi
			hi--
		}
	}
	for i := range row {
		row[i] = (row[i] + r) % n
	}
	return row
}

// pessimisticTransfers is the locking of Transfer for the implementations
// that can choose (see PGX.Transfer). Both ways ran equally fast for the
// floor (BENCHMARKS.md); the pessimistic one sends fewer statements and
// never retries, so it is the default. Set it to false to measure the
// optimistic one.
const pessimisticTransfers = true

// gormPrepareStmt is GORM's PrepareStmt setting; see GORM for why it is off.
const gormPrepareStmt = false

// databaseURL returns EnvURL, or starts a throwaway server and creates a
// database on it.
func databaseURL() (string, error) {
	if u := os.Getenv(EnvURL); u != "" {
		return u, nil
	}
	// The data directory is the temporary directory itself: pglocal hands
	// it to the postgres system user when running as root, and /tmp is
	// reachable by that user.
	dir, err := os.MkdirTemp("", "folio-bench-")
	if err != nil {
		return "", err
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	server, err = pglocal.Start(sctx, pglocal.Options{
		DataDir:   dir,
		Settings:  serverSettings,
		Ephemeral: true,
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	conn, err := pgx.Connect(sctx, server.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(sctx)
	if _, err := conn.Exec(sctx, "CREATE DATABASE folio_bench"); err != nil {
		return "", err
	}
	return server.URL("folio_bench"), nil
}

// newPool opens a pgxpool of size conns, after configure.
func newPool(url string, conns int32, configure func(*pgxpool.Config)) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = conns
	configure(cfg)
	return pgxpool.NewWithConfig(ctx, cfg)
}

// registerDecimal is the AfterConnect of the pools that are not folio's:
// pgx-shopspring-decimal's codec, as its documentation sets it up.
func registerDecimal(_ context.Context, c *pgx.Conn) error {
	pgxdecimal.Register(c.TypeMap())
	return nil
}

// openDB opens a database/sql pool on pgx's stdlib driver whose connections
// carry counter. Idle connections are kept (database/sql keeps 2 by
// default), so that 16 goroutines do not reconnect all the time.
func openDB(url string, counter *Counter, mode pgx.QueryExecMode) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.Tracer = counter
	cfg.DefaultQueryExecMode = mode
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(poolSize)
	db.SetMaxIdleConns(poolSize)
	return db, nil
}

// printSettings prints the server's version and durability settings, as
// configuration lines benchstat carries into its tables.
func (e *env) printSettings() error {
	for _, s := range []struct{ key, show string }{
		{"pg-version", "server_version"},
		{"pg-fsync", "fsync"},
		{"pg-synchronous-commit", "synchronous_commit"},
		{"pg-full-page-writes", "full_page_writes"},
		{"pg-shared-buffers", "shared_buffers"},
	} {
		var v string
		if err := e.admin.QueryRow(ctx, "SHOW "+s.show).Scan(&v); err != nil {
			return err
		}
		fmt.Printf("%s: %s\n", s.key, v)
	}
	return nil
}

// seedSecurities replaces all data with n USD securities S00000... priced on
// day0.
func (e *env) seedSecurities(n int) error {
	if _, err := e.admin.Exec(ctx, "TRUNCATE investment, portfolio, security"); err != nil {
		return err
	}
	e.securities = make([]security, n)
	rows := make([][]any, n)
	for i := range n {
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		sym := fmt.Sprintf("S%05d", i)
		e.securities[i] = security{id: id, symbol: sym}
		rows[i] = []any{id, sym, "Security " + sym, "USD", basePrice(i), day0}
	}
	_, err := e.admin.CopyFrom(ctx, pgx.Identifier{"security"},
		[]string{"id", "symbol", "name", "currency", "last_price", "price_date"}, pgx.CopyFromRows(rows))
	if err != nil {
		return err
	}
	return e.vacuum("security")
}

func basePrice(i int) decimal.Decimal { return decimal.New(int64(10000+i%97*100+i%7), -2) }

// vacuum runs VACUUM ANALYZE on tables, so that every run starts from the
// same physical state and fresh statistics.
func (e *env) vacuum(tables ...string) error {
	_, err := e.admin.Exec(ctx, "VACUUM (ANALYZE) "+strings.Join(tables, ", "), pgx.QueryExecModeSimpleProtocol)
	return err
}

// seedLot and seedPortfolio describe data a scenario starts from.
type seedLot struct {
	id       uuid.UUID
	security uuid.UUID
	quantity decimal.Decimal
	unitCost decimal.Decimal
	day      time.Time
}

type seedPortfolio struct {
	id   uuid.UUID
	name string
	lots []seedLot
}

// dataset is a fixed set of portfolios (ids included), so that every
// implementation can start from exactly the same rows.
type dataset []seedPortfolio

// makeDataset makes n portfolios of lotsEach lots; lot(p, j) says which
// security (an index into env.securities), quantity, unit cost and day lot
// j of portfolio p has.
func (e *env) makeDataset(n, lotsEach int, lot func(p, j int) (sec int, qty, cost decimal.Decimal, day time.Time)) dataset {
	d := make(dataset, n)
	for p := range d {
		d[p] = seedPortfolio{id: uuid.Must(uuid.NewV7()), name: fmt.Sprintf("P%05d", p), lots: make([]seedLot, lotsEach)}
		for j := range lotsEach {
			sec, qty, cost, day := lot(p, j)
			d[p].lots[j] = seedLot{id: uuid.Must(uuid.NewV7()), security: e.securities[sec].id, quantity: qty, unitCost: cost, day: day}
		}
	}
	return d
}

func (d dataset) ids() []uuid.UUID {
	ids := make([]uuid.UUID, len(d))
	for i, p := range d {
		ids[i] = p.id
	}
	return ids
}

func (d dataset) lotCount() int {
	n := 0
	for _, p := range d {
		n += len(p.lots)
	}
	return n
}

// load replaces all portfolios and lots with d.
func (e *env) load(d dataset) error {
	if _, err := e.admin.Exec(ctx, "TRUNCATE investment, portfolio"); err != nil {
		return err
	}
	ps := make([][]any, len(d))
	var lots [][]any
	for i, p := range d {
		ps[i] = []any{p.id, p.name, "USD", int64(1)}
		for _, l := range p.lots {
			lots = append(lots, []any{l.id, p.id, l.security, l.quantity, l.unitCost, l.day})
		}
	}
	if _, err := e.admin.CopyFrom(ctx, pgx.Identifier{"portfolio"},
		[]string{"id", "name", "currency", "version"}, pgx.CopyFromRows(ps)); err != nil {
		return err
	}
	if _, err := e.admin.CopyFrom(ctx, pgx.Identifier{"investment"},
		[]string{"id", "portfolio_id", "security_id", "quantity", "unit_cost", "acquired_on"}, pgx.CopyFromRows(lots)); err != nil {
		return err
	}
	return e.vacuum("portfolio", "investment")
}

// The data of each scenario.

// loadData is scenarios 1 and 2: 1,000 portfolios of 10 lots, each lot in
// a different one of 1,000 securities.
func (e *env) loadData() dataset {
	return e.makeDataset(1000, 10, func(p, j int) (int, decimal.Decimal, decimal.Decimal, time.Time) {
		return (p + 100*j) % 1000, decimal.New(int64(1000+j*25), -1), decimal.New(int64(1234+p%50), -2), day0.AddDate(0, 0, 3*j)
	})
}

// newPortfolio is scenario 3's input: 1,000 lots in 100 securities,
// recorded in the order they were bought (over 300 days).
func (e *env) newPortfolio() *NewPortfolio {
	np := &NewPortfolio{Currency: "USD", Lots: make([]NewLot, 1000)}
	for i := range np.Lots {
		np.Lots[i] = NewLot{
			SecurityID: e.securities[i%100].id,
			Quantity:   decimal.New(int64(15+i%4), -1),
			UnitCost:   decimal.New(int64(2000+i), -2),
			AcquiredOn: day0.AddDate(0, 0, i*300/1000),
		}
	}
	return np
}

// sellData is scenario 4: one portfolio of 100 lots in 10 securities, large
// enough that selling one share per operation never runs out.
func (e *env) sellData() dataset {
	return e.makeDataset(1, 100, func(_, j int) (int, decimal.Decimal, decimal.Decimal, time.Time) {
		return j % 10, decimal.New(1_000_000_000, 0), decimal.New(int64(1000+j), -1), day0.AddDate(0, 0, j)
	})
}

// sale is scenario 4's operation: one share of the first security, which
// changes the quantity of the oldest lot of it.
func (e *env) sale(d dataset) Sale {
	return Sale{Portfolio: d[0].id, Security: e.securities[0].id, Quantity: decimal.New(1, 0), On: day0.AddDate(1, 0, 0)}
}

// transferData is scenario 5: 1,000 portfolios of 10 lots of 1,000,000
// shares, lot j of portfolio p in security (p + 10j) mod 100.
func (e *env) transferData() dataset {
	return e.makeDataset(1000, 10, func(p, j int) (int, decimal.Decimal, decimal.Decimal, time.Time) {
		return (p + 10*j) % 100, decimal.New(1_000_000, 0), decimal.New(int64(1000+j), -1), day0.AddDate(0, 0, j)
	})
}

// transfers returns n random transfers of one share between distinct
// portfolios of d (made by transferData), always of a security the sender
// holds; the same seed gives the same list.
func (e *env) transfers(d dataset, n int) []Transfer {
	rng := rand.New(rand.NewPCG(1, 2))
	ts := make([]Transfer, n)
	for i := range ts {
		from := rng.IntN(len(d))
		to := rng.IntN(len(d) - 1)
		if to >= from {
			to++
		}
		j := rng.IntN(10)
		ts[i] = Transfer{
			From:     d[from].id,
			To:       d[to].id,
			Security: e.securities[(from+10*j)%100].id,
			Quantity: decimal.New(1, 0),
			On:       day0.AddDate(1, 0, 0),
		}
	}
	return ts
}

// quoteSets returns two sets of prices for all securities, both different
// from the seeded ones: scenario 6 alternates between them, so that every
// operation changes every price.
func (e *env) quoteSets() [2][]Quote {
	var sets [2][]Quote
	for k := range sets {
		sets[k] = make([]Quote, len(e.securities))
		for i, s := range e.securities {
			sets[k][i] = Quote{
				Symbol: s.symbol,
				Price:  basePrice(i).Add(decimal.New(int64(25+50*k), -2)),
				Date:   day0.AddDate(0, 0, 10+k),
			}
		}
	}
	return sets
}

// Checks against the database, through the admin pool.

// conservation returns the total quantity per security, the number of lots
// and the sum of the portfolio versions.
func (e *env) conservation() (map[uuid.UUID]string, int, int64, error) {
	totals := map[uuid.UUID]string{}
	rows, err := e.admin.Query(ctx, "SELECT security_id, sum(quantity)::text FROM investment GROUP BY security_id")
	if err != nil {
		return nil, 0, 0, err
	}
	for rows.Next() {
		var id uuid.UUID
		var sum string
		if err := rows.Scan(&id, &sum); err != nil {
			return nil, 0, 0, err
		}
		totals[id] = sum
	}
	if err := rows.Err(); err != nil {
		return nil, 0, 0, err
	}
	var lots int
	var versions int64
	err = e.admin.QueryRow(ctx, "SELECT (SELECT count(*) FROM investment), (SELECT coalesce(sum(version), 0) FROM portfolio)").
		Scan(&lots, &versions)
	return totals, lots, versions, err
}

// dumpPortfolios describes every portfolio and lot in the database, by
// name and content rather than by the ids implementations make up: lots are
// listed per portfolio in FIFO order, and with their ids only when
// withLotIDs (when the ids came from a dataset).
func (e *env) dumpPortfolios(withLotIDs bool) ([]string, error) {
	rows, err := e.admin.Query(ctx, `
SELECT p.name, p.currency, p.version, coalesce(p.last_sale_on::text, '-'), i.id, i.security_id, i.quantity::text, i.unit_cost::text, i.acquired_on::text
FROM portfolio p LEFT JOIN investment i ON i.portfolio_id = p.id
ORDER BY p.name, i.acquired_on, i.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name, cur, lastSale string
		var version int64
		var id, sec *uuid.UUID
		var qty, cost, day *string
		if err := rows.Scan(&name, &cur, &version, &lastSale, &id, &sec, &qty, &cost, &day); err != nil {
			return nil, err
		}
		line := fmt.Sprintf("%s %s v%d sold %s", name, cur, version, lastSale)
		if id != nil {
			lot := "-"
			if withLotIDs {
				lot = id.String()
			}
			line += fmt.Sprintf(" lot %s %s %s %s %s", lot, sec, *qty, *cost, *day)
		}
		out = append(out, line)
	}
	return out, rows.Err()
}

// resetPrices gives every security its seeded price and day again.
func (e *env) resetPrices() error {
	ids := make([]uuid.UUID, len(e.securities))
	prices := make([]string, len(e.securities))
	for i, s := range e.securities {
		ids[i], prices[i] = s.id, basePrice(i).String()
	}
	_, err := e.admin.Exec(ctx, `
UPDATE security AS s SET last_price = u.price::numeric, price_date = $3
FROM unnest($1::uuid[], $2::text[]) AS u(id, price) WHERE s.id = u.id`, ids, prices, day0)
	return err
}

// checkPrices returns dumpPrices if every security has the price and day
// of its quote, and otherwise an error naming the first that has not.
func (e *env) checkPrices(quotes []Quote) ([]string, error) {
	got, err := e.dumpPrices()
	if err != nil {
		return nil, err
	}
	want := make([]string, len(quotes))
	for i, q := range quotes {
		want[i] = q.Symbol + " " + q.Price.StringFixed(10) + " " + q.Date.Format(time.DateOnly)
	}
	slices.Sort(want)
	if !slices.Equal(want, got) {
		return nil, fmt.Errorf("the prices are not the quotes:\n%s", firstDifference(want, got))
	}
	return got, nil
}

// dumpPrices lists every security's price and day, in symbol order.
func (e *env) dumpPrices() ([]string, error) {
	rows, err := e.admin.Query(ctx, "SELECT symbol, last_price::text, price_date::text FROM security ORDER BY symbol")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var sym, price, day string
		if err := rows.Scan(&sym, &price, &day); err != nil {
			return nil, err
		}
		out = append(out, sym+" "+price+" "+day)
	}
	return out, rows.Err()
}
