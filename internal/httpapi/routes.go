package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/tracker"
	"github.com/folio-dev/folio/internal/uow"
)

func (a *api) routes() {
	a.handle("GET /healthz", a.health, anyQuery)
	a.handle("GET /securities", a.listSecurities, "q", "after", "limit")
	a.handle("POST /securities", a.addSecurity)
	a.handle("GET /securities/{symbol}", a.getSecurity)
	a.handle("PUT /securities/{symbol}/price", a.setPrice)
	a.handle("GET /portfolios", a.listPortfolios, "q", "after", "limit")
	a.handle("POST /portfolios", a.createPortfolio)
	a.handle("GET /portfolios/{id}", a.getPortfolio)
	a.handle("PATCH /portfolios/{id}", a.renamePortfolio)
	a.handle("DELETE /portfolios/{id}", a.deletePortfolio)
	a.handle("POST /portfolios/{id}/trades", a.trade)
	a.handle("GET /portfolios/{id}/report", a.report)
}

// defaultCurrency is the currency of a security or portfolio created
// without one.
const defaultCurrency = "USD"

// health answers whether the database does: any failure is a 503, the
// cause goes to the log.
func (a *api) health(w http.ResponseWriter, r *http.Request) error {
	// A probe gives up after a second or a few; a database that does not
	// answer by then is as good as down, and the probe should hear so.
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	if err := a.svc.Ping(ctx); err != nil {
		return &unavailableError{err}
	}
	return reply(w, http.StatusOK, map[string]string{"status": "ok"})
}

// healthTimeout bounds a health check.
const healthTimeout = 2 * time.Second

// unavailableError is a failed health check; it unwraps to errUnavailable
// and to the cause, for the log.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string   { return "health check: " + e.err.Error() }
func (e *unavailableError) Unwrap() []error { return []error{errUnavailable, e.err} }

func (a *api) listSecurities(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query() // checked by handle
	n, err := limit(q)
	if err != nil {
		return err
	}
	opts := uow.ListOptions{NameContains: q.Get("q"), Limit: n}
	if after := q.Get("after"); after != "" {
		// Symbols are stored upper-cased; a cursor is compared with them.
		if opts.After, err = domain.ParseSymbol(after); err != nil {
			return malformed("after", "after must be a symbol: %v", err)
		}
	}
	secs, err := a.svc.Securities(r.Context(), opts)
	if err != nil {
		return err
	}
	return replyRead(w, r, secs, 0, "/securities")
}

type securityRequest struct {
	Symbol   *string `json:"symbol"`
	Name     *string `json:"name"`
	Currency *string `json:"currency"`
}

func (a *api) addSecurity(w http.ResponseWriter, r *http.Request) error {
	var req securityRequest
	if err := a.decode(r, &req); err != nil {
		return err
	}
	symbol, err := required("symbol", req.Symbol)
	if err != nil {
		return err
	}
	name, err := required("name", req.Name)
	if err != nil {
		return err
	}
	currency := defaultCurrency
	if req.Currency != nil {
		currency = *req.Currency
	}
	if err := untagged(r, "/securities", nil); err != nil {
		return err
	}
	if symbol, err = parse("symbol", symbol, domain.ParseSymbol); err != nil {
		return err
	}
	if name, err = parse("name", name, domain.ParseSecurityName); err != nil {
		return err
	}
	if currency, err = parse("currency", currency, domain.ParseCurrency); err != nil {
		return err
	}
	sec, err := a.svc.AddSecurity(r.Context(), symbol, name, currency)
	if err != nil {
		return blame(err, rule{domain.ErrAlreadyExists, "symbol"})
	}
	w.Header().Set("Location", "/securities/"+sec.Symbol)
	return reply(w, http.StatusCreated, sec)
}

type priceRequest struct {
	Price *string `json:"price"`
	Date  *string `json:"date"`
}

func (a *api) getSecurity(w http.ResponseWriter, r *http.Request) error {
	symbol, err := pathSymbol(r)
	if err != nil {
		return err
	}
	sec, err := a.svc.Security(r.Context(), symbol)
	if err != nil {
		return err
	}
	return replyRead(w, r, sec, 0, "security "+sec.Symbol)
}

func (a *api) setPrice(w http.ResponseWriter, r *http.Request) error {
	symbol, err := pathSymbol(r)
	if err != nil {
		return err
	}
	var req priceRequest
	if err := a.decode(r, &req); err != nil {
		return err
	}
	s, err := required("price", req.Price)
	if err != nil {
		return err
	}
	err = untagged(r, "security "+symbol, func() error {
		_, err := a.svc.Security(r.Context(), symbol)
		return err
	})
	if err != nil {
		return err
	}
	price, err := parse("price", s, domain.ParsePrice)
	if err != nil {
		return a.securityBeforeContent(r, symbol, err)
	}
	on, err := optionalDate(req.Date)
	if err != nil {
		return a.securityBeforeContent(r, symbol, err)
	}
	sec, err := a.svc.SetPrice(r.Context(), symbol, price, on.Time)
	switch {
	case errors.Is(err, tracker.ErrOlderPrice) && req.Date == nil:
		// Today is older than the current price's date: no member of
		// the body is at fault, and "date" was not sent.
		return err
	case err != nil:
		// ErrOlderPrice is also an ErrInvalidPrice: its rule comes first.
		return blame(err, rule{tracker.ErrOlderPrice, "date"}, rule{domain.ErrInvalidDate, "date"},
			rule{domain.ErrInvalidPrice, "price"})
	}
	return reply(w, http.StatusOK, sec)
}

func (a *api) listPortfolios(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query() // checked by handle
	n, err := limit(q)
	if err != nil {
		return err
	}
	// q and after are normalized (NFC) by the unit of work, as names
	// are: after is the last name of the previous page.
	ps, err := a.svc.Portfolios(r.Context(), uow.ListOptions{NameContains: q.Get("q"), After: q.Get("after"), Limit: n})
	if err != nil {
		return err
	}
	return replyRead(w, r, ps, 0, "/portfolios")
}

type portfolioRequest struct {
	Name     *string `json:"name"`
	Currency *string `json:"currency"`
}

func (a *api) createPortfolio(w http.ResponseWriter, r *http.Request) error {
	var req portfolioRequest
	if err := a.decode(r, &req); err != nil {
		return err
	}
	name, err := required("name", req.Name)
	if err != nil {
		return err
	}
	currency := defaultCurrency
	if req.Currency != nil {
		currency = *req.Currency
	}
	if err := untagged(r, "/portfolios", nil); err != nil {
		return err
	}
	if name, err = parse("name", name, domain.ParsePortfolioName); err != nil {
		return err
	}
	if currency, err = parse("currency", currency, domain.ParseCurrency); err != nil {
		return err
	}
	p, err := a.svc.CreatePortfolio(r.Context(), name, currency)
	if err != nil {
		return blame(err, rule{domain.ErrAlreadyExists, "name"})
	}
	w.Header().Set("Location", "/portfolios/"+p.ID.String())
	w.Header().Set("ETag", etag(p.Version))
	return reply(w, http.StatusCreated, p)
}

func (a *api) getPortfolio(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	p, err := a.svc.Portfolio(r.Context(), tracker.ByID(id))
	if err != nil {
		return err
	}
	return replyRead(w, r, p, p.Version, fmt.Sprintf("portfolio %q", p.Name))
}

type renameRequest struct {
	Name *string `json:"name"`
}

func (a *api) renamePortfolio(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req renameRequest
	if err := a.decode(r, &req); err != nil {
		return err
	}
	name, err := required("name", req.Name)
	if err != nil {
		return err
	}
	if name, err = parse("name", name, domain.ParsePortfolioName); err != nil {
		return a.beforeContent(r, id, err)
	}
	p, err := a.svc.RenamePortfolio(r.Context(), tracker.ByID(id), name, precondition(r))
	if err != nil {
		return blame(err, rule{domain.ErrAlreadyExists, "name"})
	}
	w.Header().Set("ETag", etag(p.Version))
	return reply(w, http.StatusOK, p)
}

func (a *api) deletePortfolio(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := a.svc.DeletePortfolio(r.Context(), tracker.ByID(id), precondition(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type tradeRequest struct {
	Side     *string `json:"side"`
	Symbol   *string `json:"symbol"`
	Quantity *string `json:"quantity"`
	Price    *string `json:"price"`
	Date     *string `json:"date"`
}

func (a *api) trade(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req tradeRequest
	if err := a.decode(r, &req); err != nil {
		return err
	}
	t, err := req.parse()
	if err != nil {
		return a.beforeContent(r, id, err)
	}
	v, err := a.svc.Trade(r.Context(), tracker.ByID(id), t, precondition(r))
	if err != nil {
		return blame(err,
			rule{tracker.ErrUnknownSecurity, "symbol"},
			rule{domain.ErrInsufficientQuantity, "quantity"},
			rule{domain.ErrOutOfOrder, "date"},
			rule{domain.ErrCurrencyMismatch, "symbol"},
			rule{domain.ErrInvalidDate, "date"},
			rule{domain.ErrInvalidQuantity, "quantity"},
			rule{domain.ErrInvalidPrice, "price"})
	}
	// 200, not 201: a trade makes no resource of its own that a
	// Location could name. The ETag is the portfolio's new one, for the
	// next If-Match.
	w.Header().Set("ETag", etag(v.Version))
	return reply(w, http.StatusOK, v)
}

// parse checks every member of a trade: the required ones are present
// (else 400), then each is valid (else 422, naming it).
func (req tradeRequest) parse() (tracker.Trade, error) {
	var t tracker.Trade
	side, err := required("side", req.Side)
	if err != nil {
		return t, err
	}
	symbol, err := required("symbol", req.Symbol)
	if err != nil {
		return t, err
	}
	quantity, err := required("quantity", req.Quantity)
	if err != nil {
		return t, err
	}
	price, err := required("price", req.Price)
	if err != nil {
		return t, err
	}
	if t.Side, err = parse("side", side, tracker.ParseSide); err != nil {
		return t, err
	}
	if t.Symbol, err = parse("symbol", symbol, domain.ParseSymbol); err != nil {
		return t, err
	}
	if t.Quantity, err = parse("quantity", quantity, domain.ParseQuantity); err != nil {
		return t, err
	}
	if t.Price, err = parse("price", price, domain.ParsePrice); err != nil {
		return t, err
	}
	on, err := optionalDate(req.Date)
	t.Date = on.Time
	return t, err
}

func (a *api) report(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rep, err := a.svc.Report(r.Context(), tracker.ByID(id))
	if err != nil {
		return err
	}
	// No ETag: the body changes with prices and the day (as_of) while the
	// portfolio's version stays, and a strong ETag must change with the
	// body. The version is in the body, for If-Match on the portfolio.
	return replyRead(w, r, rep, 0, fmt.Sprintf("the report of portfolio %q", rep.Portfolio))
}

// rule attributes an error of the tracker to a member of the request.
type rule struct {
	target error
	field  string
}

// blame returns err attributed to the field of the first rule whose
// target it is, or err as it is if none matches or it names a field
// already.
func blame(err error, rules ...rule) error {
	if _, ok := fieldOf(err); ok {
		return err
	}
	for _, r := range rules {
		if errors.Is(err, r.target) {
			return &fieldError{field: r.field, err: err}
		}
	}
	return err
}
