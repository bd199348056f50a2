package uow

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/folio-dev/folio/internal/dbgen"
	"github.com/folio-dev/folio/internal/domain"
)

// Securities is a unit's repository of securities.
type Securities struct{ u *Unit }

// Get returns the security with this id, from the identity map when the
// unit has it. errors.Is(err, domain.ErrNotFound) when there is none.
func (r Securities) Get(ctx context.Context, id uuid.UUID) (*domain.Security, error) {
	ss, err := r.GetMany(ctx, []uuid.UUID{id})
	if err != nil {
		return nil, err
	}
	return ss[0], nil
}

// GetMany returns the securities with these ids in the same order, loading
// the ones the unit does not have in one statement.
// errors.Is(err, domain.ErrNotFound) if any is missing.
func (r Securities) GetMany(ctx context.Context, ids []uuid.UUID) ([]*domain.Security, error) {
	if err := r.u.usable(); err != nil {
		return nil, err
	}
	u := r.u
	var missing []uuid.UUID
	for _, id := range ids {
		if _, ok := u.securities[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		var rows []*dbgen.Security
		if err := u.s.roundTrip(ctx, []call{{run: func(q *dbgen.Queries) (err error) {
			rows, err = q.GetSecuritiesByIDs(ctx, missing)
			return err
		}}}); err != nil {
			return nil, fmt.Errorf("load securities: %w", err)
		}
		if err := u.trackSecurities(rows); err != nil {
			return nil, err
		}
	}
	out := make([]*domain.Security, len(ids))
	for i, id := range ids {
		e, ok := u.securities[id]
		if !ok || e.state == stateRemoved {
			return nil, fmt.Errorf("security %s: %w", id, domain.ErrNotFound)
		}
		out[i] = e.s
	}
	return out, nil
}

// normalizeSymbols returns the symbols as domain.ParseSymbol reads them;
// one it refuses stays as it is, and is not found (missingSymbols leaves
// it out of the query: the database holds no such symbol, and could not
// take some as a parameter). It returns symbols itself when none changes.
func normalizeSymbols(symbols []string) []string {
	out := symbols
	for i, s := range symbols {
		p, err := domain.ParseSymbol(s)
		if err != nil || p == s {
			continue
		}
		if &out[0] == &symbols[0] {
			out = slices.Clone(symbols)
		}
		out[i] = p
	}
	return out
}

// missingSymbols returns the symbols, normalized, the unit has no security
// for, but for those no security can have (domain.ParseSymbol refuses
// them). Sent, invalid UTF-8 or a NUL byte would abort the transaction.
func (u *Unit) missingSymbols(symbols []string) []string {
	var missing []string
	for _, sym := range symbols {
		if _, ok := u.symbols[sym]; !ok && validSymbol(sym) {
			missing = append(missing, sym)
		}
	}
	return missing
}

// validSymbol reports whether domain.ParseSymbol returns sym as it is.
func validSymbol(sym string) bool {
	p, err := domain.ParseSymbol(sym)
	return err == nil && p == sym
}

// symbolsCall appends to calls the statement that loads the securities
// with these symbols and returns where its rows will be; with no symbols,
// it appends nothing and returns nil.
func (u *Unit) symbolsCall(ctx context.Context, symbols []string, calls *[]call) *[]*dbgen.Security {
	if len(symbols) == 0 {
		return nil
	}
	rows := new([]*dbgen.Security)
	*calls = append(*calls, call{run: func(q *dbgen.Queries) (err error) {
		*rows, err = q.GetSecuritiesBySymbols(ctx, symbols)
		return err
	}})
	return rows
}

// trackBySymbol tracks the rows of a symbolsCall, if it made one.
func (u *Unit) trackBySymbol(rows *[]*dbgen.Security) error {
	if rows == nil {
		return nil
	}
	return u.trackSecurities(*rows)
}

// Map returns the securities with these ids keyed by id, as
// domain.Portfolio.Value wants them.
func (r Securities) Map(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*domain.Security, error) {
	ss, err := r.GetMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	m := make(map[uuid.UUID]*domain.Security, len(ss))
	for _, s := range ss {
		m[s.ID()] = s
	}
	return m, nil
}

// GetBySymbol returns the security with this symbol, from the identity map
// when the unit has it. The symbol is read as domain.ParseSymbol reads it
// ("aapl " is AAPL), as Revalue reads its quotes' symbols.
// errors.Is(err, domain.ErrNotFound) when there is none.
func (r Securities) GetBySymbol(ctx context.Context, symbol string) (*domain.Security, error) {
	ss, err := r.GetBySymbols(ctx, []string{symbol})
	if err != nil {
		return nil, err
	}
	return ss[0], nil
}

// GetBySymbols returns the securities with these symbols in the same order,
// loading the ones the unit does not have in one statement.
// errors.Is(err, domain.ErrNotFound) names the first symbol missing.
func (r Securities) GetBySymbols(ctx context.Context, symbols []string) ([]*domain.Security, error) {
	if err := r.u.usable(); err != nil {
		return nil, err
	}
	u := r.u
	symbols = normalizeSymbols(symbols)
	if missing := u.missingSymbols(symbols); len(missing) > 0 {
		var calls []call
		rows := u.symbolsCall(ctx, missing, &calls)
		if err := u.s.roundTrip(ctx, calls); err != nil {
			return nil, fmt.Errorf("load securities: %w", err)
		}
		if err := u.trackBySymbol(rows); err != nil {
			return nil, err
		}
	}
	out := make([]*domain.Security, len(symbols))
	for i, sym := range symbols {
		e, ok := u.symbols[sym]
		if !ok || e.state == stateRemoved {
			return nil, fmt.Errorf("security %s: %w", sym, domain.ErrNotFound)
		}
		out[i] = e.s
	}
	return out, nil
}

// List returns a page of securities in symbol order; pass the last symbol of
// a page as After for the next (normalized as GetBySymbol's symbol is:
// "aapl" is AAPL). NameContains keeps the securities whose name or symbol
// contains it, ignoring case, as Portfolios.List does. Securities removed in this
// unit are left out, and the page is filled up past them, so a page
// shorter than the limit is still the last.
func (r Securities) List(ctx context.Context, opts ListOptions) ([]*domain.Security, error) {
	if err := r.u.usable(); err != nil {
		return nil, err
	}
	if err := opts.checkText("list securities"); err != nil {
		return nil, err
	}
	limit, err := opts.limit()
	if err != nil {
		return nil, err
	}
	want := int(limit)
	for _, e := range r.u.securities {
		if e.state == stateRemoved {
			limit++ // it may be in the page, and is left out
		}
	}
	if opts.After != "" {
		opts.After = normalizeSymbols([]string{opts.After})[0]
	}
	opts.NameContains = domain.NormalizeText(opts.NameContains)
	var rows []*dbgen.Security
	if err := r.u.s.roundTrip(ctx, []call{{run: func(q *dbgen.Queries) (err error) {
		rows, err = q.ListSecurities(ctx, dbgen.ListSecuritiesParams{
			NameContains: optText(opts.NameContains), After: optText(opts.After), PageSize: limit,
		})
		return err
	}}}); err != nil {
		return nil, fmt.Errorf("list securities: %w", err)
	}
	if err := r.u.trackSecurities(rows); err != nil {
		return nil, err
	}
	out := make([]*domain.Security, 0, len(rows))
	for _, row := range rows {
		if e := r.u.securities[row.ID]; e.state != stateRemoved && len(out) < want {
			out = append(out, e.s)
		}
	}
	return out, nil
}

// Add makes s part of the unit: it is inserted at the next flush, as it
// is (a quote a Revalue queued for its symbol is dropped). A symbol that is
// taken fails the flush with domain.ErrAlreadyExists, and so does another
// object with the id or the symbol of one the unit has; the symbol of a
// security removed in this unit is free (the flush deletes that one
// first). Adding a security the unit already has does nothing; adding one
// removed in this unit undoes the removal.
func (r Securities) Add(s *domain.Security) {
	r.u.mustBeOpen("Add")
	other, taken := r.u.symbols[s.Symbol()]
	taken = taken && other.s != s && other.state != stateRemoved
	if e, ok := r.u.securities[s.ID()]; ok {
		switch {
		case e.s != s:
			r.u.refuse(fmt.Errorf("add security %s: the unit has another object for its id %s: %w",
				s.Symbol(), s.ID(), domain.ErrAlreadyExists))
		case e.state == stateRemoved && taken:
			r.u.refuse(fmt.Errorf("add security %s: the unit has added another security with its symbol: %w",
				s.Symbol(), domain.ErrAlreadyExists))
		case e.state == stateRemoved:
			e.state = statePersistent
			r.u.symbols[s.Symbol()] = e
		}
		return
	}
	if taken {
		r.u.refuse(fmt.Errorf("add security %s: the unit has another security with this symbol: %w",
			s.Symbol(), domain.ErrAlreadyExists))
		return
	}
	e := &securityEntry{s: s, state: stateNew}
	r.u.securities[s.ID()] = e
	r.u.symbols[s.Symbol()] = e
	// A quote queued by an earlier Revalue for its symbol stays queued,
	// for the stored security of that symbol, should this object be
	// removed again (how an Add of a taken symbol is undone). While the
	// object holds the symbol, the flush leaves the quote out: the later
	// call wins, as when Revalue follows Add, and the object is inserted
	// as it is (the bulk update would overwrite its row).
}

// Remove deletes s at the next flush; the flush fails with domain.ErrInUse
// while lots hold it. s must have been loaded or added in this unit
// (errors.Is(err, domain.ErrNotFound) otherwise); removing an added one
// just forgets it.
//
// The flush deletes the security last, after the lots that held it (the
// foreign key wants that order), and so after their portfolios' version
// bumps, while it writes securities' new names and prices first: a unit
// that removes a security and the last lots of it in a portfolio, and one
// that reprices the security and changes that portfolio, at the same time,
// lock the two rows in opposite orders and may deadlock. PostgreSQL breaks
// that after deadlock_timeout (1 s by default), and the runner retries the
// loser.
func (r Securities) Remove(s *domain.Security) error {
	if err := r.u.usable(); err != nil {
		return err
	}
	e, ok := r.u.securities[s.ID()]
	if !ok || e.s != s {
		return fmt.Errorf("remove security %s: not loaded in this unit: %w", s.Symbol(), domain.ErrNotFound)
	}
	if e.state == stateNew {
		delete(r.u.securities, s.ID())
		if r.u.symbols[s.Symbol()] == e {
			delete(r.u.symbols, s.Symbol())
			// A stored security with the symbol is the one found by
			// symbol again: one the unit loaded while the new one held
			// the symbol (trackSecurities), or one it removed before
			// adding the new one, which then answers "removed in this
			// unit" (Revalue, GetBySymbol) instead of the unit going to
			// the database for a row its flush deletes.
			for _, o := range r.u.securities {
				if o.s.Symbol() != s.Symbol() {
					continue
				}
				if o.state == statePersistent {
					r.u.symbols[s.Symbol()] = o
					break
				}
				if o.state == stateRemoved {
					r.u.symbols[s.Symbol()] = o
				}
			}
		}
		return nil
	}
	e.state = stateRemoved
	return nil
}

// Quote is a price for a security on a day.
type Quote struct {
	// Symbol names the security; it is read as domain.ParseSymbol reads
	// one (trimmed, upper-cased).
	Symbol string
	// Price is checked as domain.CheckPrice checks one.
	Price decimal.Decimal
	// Date is the day of the price; its time of day is dropped
	// (domain.Day).
	Date time.Time
}

// Revalue sets the prices of many securities, named by symbol, without
// loading them: like SQLAlchemy's bulk update, it is one statement, a blind
// write that the last one wins, whatever the number; unlike it, the
// statement goes with the next flush rather than at once. A security the
// unit has, or loads before that flush, gets the price through SetPrice
// instead, and is saved like any changed security: only if the price is
// still the one the unit read (a concurrent change is a conflict, retried).
// In a Read unit it returns ErrReadOnly, queuing nothing. Every quote is
// checked first (domain.ErrInvalid... errors,
// nothing queued; domain.ErrNotFound for a security removed in this unit);
// a symbol that does not exist fails the flush with domain.ErrNotFound.
//
// The statement locks the rows in the order of its plan, not in a fixed
// one: two units that revalue overlapping symbols at the same time may
// deadlock, and PostgreSQL breaks the cycle after deadlock_timeout (1 s by
// default), the runner then running the loser again. (Locking the rows in
// id order first, measured: no deadlocks, but 27% more server time for
// 10,000 prices.)
func (r Securities) Revalue(quotes []Quote) error {
	if err := r.u.usable(); err != nil {
		return err
	}
	if r.u.readOnly {
		// Refused now rather than at the end of the Read unit: it is a
		// write and nothing else.
		return fmt.Errorf("revalue: %w", ErrReadOnly)
	}
	clean := make([]Quote, len(quotes))
	seen := make(map[string]bool, len(quotes))
	for i, q := range quotes {
		sym, err := domain.ParseSymbol(q.Symbol)
		if err != nil {
			return fmt.Errorf("revalue: %w", err)
		}
		if err := domain.CheckPrice(q.Price); err != nil {
			return fmt.Errorf("revalue %s: %w", sym, err)
		}
		if err := domain.CheckDate(q.Date); err != nil {
			return fmt.Errorf("revalue %s: %w", sym, err)
		}
		if seen[sym] {
			return fmt.Errorf("revalue: %w quotes: symbol %s given twice", domain.ErrInvalid, sym)
		}
		if e, ok := r.u.symbols[sym]; ok && e.state == stateRemoved {
			// Its row goes at the next flush: the quote would price
			// nothing, and be lost without a word.
			return fmt.Errorf("revalue %s: removed in this unit: %w", sym, domain.ErrNotFound)
		}
		seen[sym] = true
		clean[i] = Quote{Symbol: sym, Price: q.Price, Date: domain.Day(q.Date)}
	}
	queued := make(map[string]int, len(r.u.quotes))
	for i, q := range r.u.quotes {
		queued[q.Symbol] = i
	}
	for _, q := range clean {
		if e, ok := r.u.symbols[q.Symbol]; ok {
			// Tracked: the change flows through dirty tracking like any
			// other, which also keeps the snapshot right.
			if err := e.s.SetPrice(q.Price, q.Date); err != nil {
				return fmt.Errorf("revalue %s: %w", q.Symbol, err)
			}
			if e.state != stateNew {
				continue
			}
			// A new object holds the symbol. The quote is also the stored
			// security's, as if the object were not there: on the one
			// the unit loaded, or queued (see Add). Should the object
			// be removed again, the stored one has the latest quote.
			if o := r.u.storedSecurity(q.Symbol); o != nil {
				if err := o.s.SetPrice(q.Price, q.Date); err != nil {
					return fmt.Errorf("revalue %s: %w", q.Symbol, err)
				}
				continue
			}
		}
		if i, ok := queued[q.Symbol]; ok {
			r.u.quotes[i] = q // a later quote for the same symbol wins
			continue
		}
		queued[q.Symbol] = len(r.u.quotes)
		r.u.quotes = append(r.u.quotes, q)
	}
	return nil
}

// storedSecurity returns the entry of the stored security with the symbol
// that the unit has loaded and not removed, if any. It looks at every
// entry: it is for the rare symbol a new object holds.
func (u *Unit) storedSecurity(symbol string) *securityEntry {
	for _, e := range u.securities {
		if e.state == statePersistent && e.s.Symbol() == symbol {
			return e
		}
	}
	return nil
}

// trackSecurities puts loaded rows into the identity map; rows the unit
// already has are ignored (its objects win).
func (u *Unit) trackSecurities(rows []*dbgen.Security) error {
	var queued map[string]int // symbol -> index in u.quotes
	taken := false
	for _, row := range rows {
		if _, ok := u.securities[row.ID]; ok {
			continue
		}
		st := securityState(row)
		s, err := restoreSecurity(st)
		if err != nil {
			return err
		}
		e := &securityEntry{s: s, snap: st, state: statePersistent, changes: s.Changes()}
		u.securities[row.ID] = e
		if u.nested > 0 {
			u.bornS = append(u.bornS, *e)
		}
		if o, ok := u.symbols[row.Symbol]; !ok || o.state == stateRemoved {
			// Else a new object has the symbol: it stays the one found
			// by symbol, and its insert will fail.
			u.symbols[row.Symbol] = e
		}
		if len(u.quotes) == 0 {
			continue
		}
		// A Revalue queued before the load has not reached the row: the
		// quote moves onto the object, as for a security tracked when
		// Revalue ran, and dirty tracking writes it, or what the object
		// is changed to later.
		if queued == nil {
			queued = make(map[string]int, len(u.quotes))
			for i, q := range u.quotes {
				queued[q.Symbol] = i
			}
		}
		if i, ok := queued[row.Symbol]; ok {
			q := u.quotes[i]
			if err := s.SetPrice(q.Price, q.Date); err != nil {
				// Revalue checked the quote.
				panic(fmt.Sprintf("uow: queued quote for %s: %v", q.Symbol, err))
			}
			u.quotes[i].Symbol, taken = "", true
		}
	}
	if taken {
		u.quotes = slices.DeleteFunc(u.quotes, func(q Quote) bool { return q.Symbol == "" })
	}
	return nil
}
