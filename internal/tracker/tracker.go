// Package tracker holds the portfolio tracker's use cases: every command of
// the app and every route of the HTTP API is one method of Service, and every
// method runs in one unit of work. It speaks in plain values (the views in
// view.go), which the command line prints and the HTTP API encodes as JSON.
//
// Inputs arrive parsed (decimals, dates, trimmed strings parsed by the
// domain's Parse functions in the layer that read them); the domain checks
// them again, so a Service method never writes an invalid value.
package tracker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/uow"
)

// ErrOlderPrice is returned by SetPrice for a price dated before the one the
// security has: its last price is its latest, so an older quote cannot
// replace a newer one.
var ErrOlderPrice = fmt.Errorf("%w: older than the current price", domain.ErrInvalidPrice)

// ErrUnknownSecurity is wrapped, beside domain.ErrNotFound, by the error of
// a trade for a symbol that no security has, so that a caller can tell it
// from the portfolio being missing.
var ErrUnknownSecurity = errors.New("unknown security")

// unknownSecurity marks a not-found error of a security lookup.
type unknownSecurity struct{ err error }

func (e unknownSecurity) Error() string   { return e.err.Error() }
func (e unknownSecurity) Unwrap() []error { return []error{e.err, ErrUnknownSecurity} }

// ErrPreconditionFailed is returned when a change's Precondition does not
// hold: the caller expected a portfolio version (HTTP If-Match) and the
// portfolio has another, say.
var ErrPreconditionFailed = errors.New("precondition failed: the portfolio has changed since you read it")

// A Precondition is what a change asks of a portfolio before it is made. It
// is given the portfolio's version inside the unit that makes the change,
// after the portfolio's row is locked, so that no other change can come
// between the check and the change; it returns nil to let the change go
// ahead, or an error that wraps ErrPreconditionFailed, whose message says
// what did not hold. A nil Precondition always holds.
type Precondition func(version int64) error

// AtVersion is the Precondition that the portfolio is at version v; v 0
// gives nil, which any version satisfies.
func AtVersion(v int64) Precondition {
	if v == 0 {
		return nil
	}
	return func(version int64) error {
		if version != v {
			return fmt.Errorf("it is at version %d, not %d: %w", version, v, ErrPreconditionFailed)
		}
		return nil
	}
}

// Service runs the tracker's operations on a uow.Runner.
type Service struct {
	r *uow.Runner
}

// New returns a Service on r.
func New(r *uow.Runner) *Service { return &Service{r: r} }

// Ref names a portfolio by id or by name; exactly one is set.
type Ref struct {
	ID   uuid.UUID
	Name string
}

// ByID refers to a portfolio by id.
func ByID(id uuid.UUID) Ref { return Ref{ID: id} }

// ByName refers to a portfolio by name.
func ByName(name string) Ref { return Ref{Name: name} }

func (r Ref) String() string {
	if r.Name != "" {
		return fmt.Sprintf("%q", r.Name)
	}
	return r.ID.String()
}

// load fetches the referenced portfolio, with what opts bring along, and
// checks pre.
func load(ctx context.Context, u *uow.Unit, ref Ref, pre Precondition, opts ...uow.LoadOption) (*domain.Portfolio, error) {
	var (
		p   *domain.Portfolio
		err error
	)
	if ref.Name != "" {
		p, err = u.Portfolios().GetByName(ctx, ref.Name, opts...)
	} else {
		p, err = u.Portfolios().Get(ctx, ref.ID, opts...)
	}
	if err != nil {
		return nil, err
	}
	if pre != nil {
		if err := pre(p.Version()); err != nil {
			return nil, fmt.Errorf("portfolio %q: %w", p.Name(), err)
		}
	}
	return p, nil
}

// changing is how units that change one portfolio run: at READ COMMITTED,
// loading it with ForUpdate. Two such units on one portfolio queue for its
// row lock, and the second then sees the first's commit, instead of both
// running and the second failing its version check and starting over,
// which under many concurrent changes (an HTTP client's parallel trades)
// could exhaust the retries.
var changing = uow.WithIsolation(pgx.ReadCommitted)

// checkNotFuture refuses a price or trade dated in the future: after the
// date the unit's clock shows in the time zone that is furthest ahead
// (UTC+14), so that no client, wherever it is, has today's date refused
// by a server west of it. Such a date is a typo (2204 for 2024), and a
// price dated then would keep every real price out, as a quote never
// replaces a newer one.
func checkNotFuture(on, now time.Time) error {
	if domain.Day(on).After(domain.Day(now.In(furthestAhead))) {
		return fmt.Errorf("%w %s: it is in the future", domain.ErrInvalidDate, on.Format(time.DateOnly))
	}
	return nil
}

// utcNow is the unit's clock reading in UTC: "today", for a price or trade
// given no date and for a report, is UTC's, whatever zone the clock is in.
func utcNow(u *uow.Unit) time.Time { return u.Now().UTC() }

// furthestAhead is the time zone of the Line Islands, where every day
// begins first.
var furthestAhead = time.FixedZone("UTC+14", 14*60*60)

// AddSecurity creates a security. Errors: domain.ErrInvalid... for bad
// values, domain.ErrAlreadyExists for a symbol that is taken.
func (s *Service) AddSecurity(ctx context.Context, symbol, name, currency string) (SecurityView, error) {
	sec, err := domain.NewSecurity(symbol, name, currency)
	if err != nil {
		return SecurityView{}, err
	}
	err = s.r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		u.Securities().Add(sec)
		return nil
	})
	if err != nil {
		return SecurityView{}, err
	}
	return securityView(sec), nil
}

// Securities lists securities in symbol order, a page at a time (see
// uow.ListOptions). An empty page is an empty slice, not nil, so that it
// encodes as a JSON array.
func (s *Service) Securities(ctx context.Context, opts uow.ListOptions) ([]SecurityView, error) {
	var out []SecurityView
	err := s.r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		secs, err := u.Securities().List(ctx, opts)
		if err != nil {
			return err
		}
		out = make([]SecurityView, len(secs))
		for i, sec := range secs {
			out[i] = securityView(sec)
		}
		return nil
	})
	return out, err
}

// Security returns the security with this symbol. domain.ErrNotFound if
// there is none.
func (s *Service) Security(ctx context.Context, symbol string) (SecurityView, error) {
	var out SecurityView
	err := s.r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		sec, err := u.Securities().GetBySymbol(ctx, symbol)
		if err != nil {
			return err
		}
		out = securityView(sec)
		return nil
	})
	return out, err
}

// SetPrice sets a security's price on a day (zero: today); a price for the
// same day replaces the one it has. Errors: domain.ErrNotFound,
// domain.ErrInvalidPrice, domain.ErrInvalidDate (also for a day after
// today), ErrOlderPrice.
func (s *Service) SetPrice(ctx context.Context, symbol string, price decimal.Decimal, on time.Time) (SecurityView, error) {
	var out SecurityView
	err := s.r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		sec, err := u.Securities().GetBySymbol(ctx, symbol)
		if err != nil {
			return err
		}
		day := on // fn may run again: the caller's on stays as given
		if day.IsZero() {
			day = utcNow(u)
		}
		if err := checkQuote(sec, price, day, utcNow(u)); err != nil {
			return err
		}
		if _, last, ok := sec.LastPrice(); ok && last.After(domain.Day(day)) {
			when := domain.Day(day).Format(time.DateOnly)
			if on.IsZero() {
				// A price dated tomorrow is allowed (it is tomorrow
				// somewhere); the caller may not know that its "today"
				// is UTC's.
				when += " (today in UTC, as no date was given)"
			}
			return fmt.Errorf("%s on %s: %w of %s", sec.Symbol(), when, ErrOlderPrice, last.Format(time.DateOnly))
		}
		if err := sec.SetPrice(price, day); err != nil {
			return err
		}
		out = securityView(sec)
		return nil
	})
	return out, err
}

// checkQuote refuses an invalid price or day before it is compared with
// the security's last price: an invalid row is an error, not an old one.
func checkQuote(sec *domain.Security, price decimal.Decimal, on, now time.Time) error {
	if err := domain.CheckPrice(price); err != nil {
		return fmt.Errorf("set price of %s: %w", sec.Symbol(), err)
	}
	if err := domain.CheckDate(on); err != nil {
		return fmt.Errorf("set price of %s: %w", sec.Symbol(), err)
	}
	if err := checkNotFuture(on, now); err != nil {
		return fmt.Errorf("set price of %s: %w", sec.Symbol(), err)
	}
	return nil
}

// PriceRow is one price to import, with the line it came from.
type PriceRow struct {
	Line   int
	Symbol string
	Price  decimal.Decimal
	Date   time.Time
}

// RowError is the failure of one row of an import; nothing of the import
// was written.
type RowError struct {
	Line int
	Err  error
}

func (e *RowError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *RowError) Unwrap() error { return e.Err }

// PriceImport sums up a price import: prices set, the securities they were
// set for (a security keeps its last price only, so a file with several
// days of one security sets several prices, and leaves one), and rows
// skipped because the security already had a price of a later day (a
// quote never replaces a newer one; of two for the same day, the later
// row wins).
type PriceImport struct {
	Imported   int `json:"imported"`
	Securities int `json:"securities"`
	Skipped    int `json:"skipped"`
}

// ImportPrices sets many prices in one unit: all or none. A row for an
// unknown symbol, or any invalid row, fails the import with a *RowError.
func (s *Service) ImportPrices(ctx context.Context, rows []PriceRow) (PriceImport, error) {
	symbols := make([]string, 0, len(rows))
	seen := make(map[string]bool, len(rows))
	for _, r := range rows {
		if !seen[r.Symbol] {
			seen[r.Symbol] = true
			symbols = append(symbols, r.Symbol)
		}
	}
	var out PriceImport
	err := s.r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		out = PriceImport{}
		priced := make(map[string]bool)
		if _, err := u.Securities().GetBySymbols(ctx, symbols); err != nil {
			// Name the first row whose symbol is missing.
			for _, r := range rows {
				if _, err := u.Securities().GetBySymbol(ctx, r.Symbol); err != nil {
					return &RowError{Line: r.Line, Err: err}
				}
			}
			return err
		}
		for _, r := range rows {
			sec, err := u.Securities().GetBySymbol(ctx, r.Symbol) // from the identity map
			if err != nil {
				return &RowError{Line: r.Line, Err: err}
			}
			if err := checkQuote(sec, r.Price, r.Date, utcNow(u)); err != nil {
				return &RowError{Line: r.Line, Err: err}
			}
			if _, on, ok := sec.LastPrice(); ok && on.After(domain.Day(r.Date)) {
				out.Skipped++
				continue
			}
			if err := sec.SetPrice(r.Price, r.Date); err != nil {
				return &RowError{Line: r.Line, Err: err}
			}
			out.Imported++
			priced[sec.Symbol()] = true // as stored: "aapl" and "AAPL" are one
		}
		out.Securities = len(priced)
		return nil
	})
	if err != nil {
		return PriceImport{}, err
	}
	return out, nil
}

// CreatePortfolio creates an empty portfolio. Errors: domain.ErrInvalidName,
// domain.ErrInvalidCurrency, domain.ErrAlreadyExists.
func (s *Service) CreatePortfolio(ctx context.Context, name, currency string) (PortfolioView, error) {
	p, err := domain.NewPortfolio(name, currency)
	if err != nil {
		return PortfolioView{}, err
	}
	err = s.r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		u.Portfolios().Add(p)
		return nil
	})
	if err != nil {
		return PortfolioView{}, err
	}
	return portfolioView(p, nil), nil
}

// Portfolios lists portfolios in name order, a page at a time; an empty
// page is an empty slice, as with Securities.
func (s *Service) Portfolios(ctx context.Context, opts uow.ListOptions) ([]PortfolioSummary, error) {
	var out []PortfolioSummary
	err := s.r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		ps, err := u.Portfolios().List(ctx, opts)
		if err != nil {
			return err
		}
		out = make([]PortfolioSummary, len(ps))
		for i, p := range ps {
			out[i] = portfolioSummary(p)
		}
		return nil
	})
	return out, err
}

// Portfolio returns a portfolio with its lots. domain.ErrNotFound if there
// is none.
func (s *Service) Portfolio(ctx context.Context, ref Ref) (PortfolioView, error) {
	var out PortfolioView
	err := s.r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := load(ctx, u, ref, nil, uow.WithSecurities())
		if err != nil {
			return err
		}
		secs, err := securitiesOf(ctx, u, p)
		if err != nil {
			return err
		}
		out = portfolioView(p, secs)
		return nil
	})
	return out, err
}

// RenamePortfolio renames a portfolio if pre holds.
// Errors: domain.ErrNotFound, domain.ErrInvalidName,
// domain.ErrAlreadyExists, ErrPreconditionFailed.
func (s *Service) RenamePortfolio(ctx context.Context, ref Ref, name string, pre Precondition) (PortfolioView, error) {
	var out PortfolioView
	var p *domain.Portfolio
	err := s.r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		var err error
		if p, err = load(ctx, u, ref, pre, uow.WithSecurities(), uow.ForUpdate()); err != nil {
			return err
		}
		if err := p.Rename(name); err != nil {
			return err
		}
		secs, err := securitiesOf(ctx, u, p)
		if err != nil {
			return err
		}
		out = portfolioView(p, secs)
		return nil
	}, changing)
	if err != nil {
		return PortfolioView{}, err
	}
	out.Version = p.Version() // bumped by the commit
	return out, nil
}

// DeletePortfolio deletes a portfolio and its lots if pre holds. Errors:
// domain.ErrNotFound, ErrPreconditionFailed.
func (s *Service) DeletePortfolio(ctx context.Context, ref Ref, pre Precondition) error {
	return s.r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := load(ctx, u, ref, pre, uow.ForUpdate())
		if err != nil {
			return err
		}
		return u.Portfolios().Remove(p)
	}, changing)
}

// Side says whether a trade buys or sells.
type Side string

// The sides of a trade.
const (
	Buy  Side = "buy"
	Sell Side = "sell"
)

// ParseSide accepts "buy" and "sell" in any case.
func ParseSide(s string) (Side, error) {
	switch Side(strings.ToLower(s)) {
	case Buy:
		return Buy, nil
	case Sell:
		return Sell, nil
	}
	if len(s) > 16 {
		// A side is a short word; do not echo a long value back whole.
		return "", fmt.Errorf("%w side (%d bytes): use buy or sell", domain.ErrInvalid, len(s))
	}
	return "", fmt.Errorf("%w side %q: use buy or sell", domain.ErrInvalid, s)
}

// Trade is a buy or a sell of a security at a price on a day (zero: today).
type Trade struct {
	Line     int // for imports: where the trade came from
	Side     Side
	Symbol   string
	Quantity decimal.Decimal
	Price    decimal.Decimal
	Date     time.Time
}

// Trade applies one trade to a portfolio if pre holds.
// A buy adds a lot; a sell takes from the lots first in, first out; a
// trade may not be dated after today. Errors:
// domain.ErrNotFound (portfolio or security; for a security with
// ErrUnknownSecurity too), domain.ErrInvalid...,
// domain.ErrCurrencyMismatch, domain.ErrInsufficientQuantity,
// ErrPreconditionFailed.
func (s *Service) Trade(ctx context.Context, ref Ref, t Trade, pre Precondition) (TradeView, error) {
	var out TradeView
	var p *domain.Portfolio
	err := s.r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		var err error
		if p, err = load(ctx, u, ref, pre, uow.ForUpdate(), uow.WithSecuritiesBySymbol(t.Symbol)); err != nil {
			return err
		}
		out, err = apply(ctx, u, p, t)
		return err
	}, changing)
	if err != nil {
		return TradeView{}, err
	}
	out.Version = p.Version()
	return out, nil
}

func apply(ctx context.Context, u *uow.Unit, p *domain.Portfolio, t Trade) (TradeView, error) {
	sec, err := u.Securities().GetBySymbol(ctx, t.Symbol)
	if errors.Is(err, domain.ErrNotFound) {
		return TradeView{}, unknownSecurity{err}
	}
	if err != nil {
		return TradeView{}, err
	}
	if t.Date.IsZero() {
		t.Date = utcNow(u)
	}
	if err := checkNotFuture(t.Date, utcNow(u)); err != nil {
		return TradeView{}, fmt.Errorf("%s %s: %w", t.Side, sec.Symbol(), err)
	}
	v := TradeView{
		Portfolio: p.Name(),
		Side:      t.Side,
		Symbol:    sec.Symbol(),
		Quantity:  t.Quantity,
		Price:     t.Price,
		Date:      NewDate(t.Date),
	}
	switch t.Side {
	case Buy:
		lot, err := p.Buy(sec, t.Quantity, t.Price, t.Date)
		if err != nil {
			return TradeView{}, err
		}
		id := lot.ID()
		v.LotID = &id
	case Sell:
		if err := domain.CheckPrice(t.Price); err != nil {
			return TradeView{}, fmt.Errorf("sell %s from %q: %w", sec.Symbol(), p.Name(), err)
		}
		sale, err := p.Sell(sec, t.Quantity, t.Date)
		if err != nil {
			return TradeView{}, err
		}
		cost, gain := sale.Cost, sale.RealizedGain(t.Price)
		v.CostBasis, v.RealizedGain = &cost, &gain
	default:
		return TradeView{}, fmt.Errorf("%w side %q: use buy or sell", domain.ErrInvalid, t.Side)
	}
	return v, nil
}

// ImportResult sums up a trade import.
type ImportResult struct {
	Portfolio string          `json:"portfolio"`
	Trades    int             `json:"trades"`
	Buys      int             `json:"buys"`
	Sells     int             `json:"sells"`
	Realized  decimal.Decimal `json:"realized_gain"`
	Version   int64           `json:"version"`
}

// ImportTrades applies trades to a portfolio in one unit: all or none. They
// are applied in date order (in file order within a day), so that a sell
// finds the lots bought before it wherever they stand in the file. The
// first failing trade fails the import with a *RowError naming its line.
// progress, if not nil, is called as trades are applied.
func (s *Service) ImportTrades(ctx context.Context, ref Ref, trades []Trade, progress func(done, total int)) (ImportResult, error) {
	var out ImportResult
	var p *domain.Portfolio
	err := s.r.Do(ctx, func(ctx context.Context, u *uow.Unit) error {
		ordered := sortByDate(trades, utcNow(u))
		out = ImportResult{Realized: decimal.Zero}
		symbols := make([]string, 0, len(ordered))
		seen := make(map[string]bool)
		for _, t := range ordered {
			if !seen[t.Symbol] {
				seen[t.Symbol] = true
				symbols = append(symbols, t.Symbol)
			}
		}
		// The securities come with the portfolio; a missing one is
		// reported with its row below.
		var err error
		if p, err = load(ctx, u, ref, nil, uow.ForUpdate(), uow.WithSecuritiesBySymbol(symbols...)); err != nil {
			return err
		}
		for i, t := range ordered {
			v, err := apply(ctx, u, p, t)
			if err != nil {
				return &RowError{Line: t.Line, Err: err}
			}
			out.Trades++
			if t.Side == Buy {
				out.Buys++
			} else {
				out.Sells++
				out.Realized = out.Realized.Add(*v.RealizedGain)
			}
			if progress != nil && (i+1)%1000 == 0 {
				progress(i+1, len(ordered))
			}
		}
		if progress != nil {
			progress(len(ordered), len(ordered))
		}
		return nil
	}, changing)
	if err != nil {
		return ImportResult{}, err
	}
	out.Portfolio, out.Version = p.Name(), p.Version()
	return out, nil
}

// Report values a portfolio at the securities' last prices.
// domain.ErrNotFound if there is none.
func (s *Service) Report(ctx context.Context, ref Ref) (ReportView, error) {
	var out ReportView
	err := s.r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		p, err := load(ctx, u, ref, nil, uow.WithSecurities())
		if err != nil {
			return err
		}
		secs, err := securitiesOf(ctx, u, p)
		if err != nil {
			return err
		}
		val, err := p.Value(secs)
		if err != nil {
			return err
		}
		out = reportView(p, val, secs, utcNow(u))
		return nil
	})
	return out, err
}

// securitiesOf returns the securities p holds, from the identity map when
// they were loaded with it.
func securitiesOf(ctx context.Context, u *uow.Unit, p *domain.Portfolio) (map[uuid.UUID]*domain.Security, error) {
	seen := make(map[uuid.UUID]bool)
	var ids []uuid.UUID
	for l := range p.Lots() {
		if !seen[l.SecurityID()] {
			seen[l.SecurityID()] = true
			ids = append(ids, l.SecurityID())
		}
	}
	return u.Securities().Map(ctx, ids)
}

// Ping checks that the database answers, for health checks.
func (s *Service) Ping(ctx context.Context) error {
	return s.r.Read(ctx, func(ctx context.Context, u *uow.Unit) error {
		_, err := u.Securities().List(ctx, uow.ListOptions{Limit: 1})
		return err
	})
}
