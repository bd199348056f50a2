package uow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/folio-dev/folio/internal/dbgen"
	"github.com/folio-dev/folio/internal/domain"
)

// Portfolios is a unit's repository of portfolio aggregates: each comes with
// all its lots, loaded in the same round trip.
type Portfolios struct{ u *Unit }

// LoadOption changes what a load brings along (WithSecurities,
// WithSecuritiesBySymbol) or how it reads the rows (ForUpdate locks them).
type LoadOption func(*loadOpts)

type loadOpts struct {
	securities, lock bool
	symbols          []string
}

// WithSecurities also loads the securities the portfolios hold, in the same
// round trip, into the unit's identity map, so that Securities().Get for
// them sends nothing (SQLAlchemy's selectinload).
func WithSecurities() LoadOption { return func(o *loadOpts) { o.securities = true } }

// WithSecuritiesBySymbol also loads the securities with these symbols (as
// domain.ParseSymbol returns them) that the unit does not have yet, in the
// same round trip, into the unit's identity map: for a unit that knows up
// front which securities it will trade, so that Securities().GetBySymbol
// for them sends nothing. A symbol without a security is no error here;
// GetBySymbol reports it.
func WithSecuritiesBySymbol(symbols ...string) LoadOption {
	return func(o *loadOpts) { o.symbols = append(o.symbols, normalizeSymbols(symbols)...) }
}

// ForUpdate locks the portfolio rows (SELECT ... FOR NO KEY UPDATE, in id
// order) until the unit ends, in the same round trip as the load:
// SQLAlchemy's with_for_update(key_share=True). Another unit that wants to
// change or lock them waits.
//
// It is the pessimistic alternative to the version check, for aggregates
// that many units change at once. At READ COMMITTED (WithIsolation) a unit
// that waited for a lock loads the portfolio as the other unit left it, and
// its flush does not conflict: no retry. At REPEATABLE READ, the default,
// the wait ends in a serialization failure (ErrSerialization) when the
// other unit changed the portfolio, and the unit is retried as usual.
//
// The locks are taken in id order within one call, so load every portfolio
// the unit will change in one GetMany with ForUpdate, first: two units that
// lock A and then, in a second call, B, and B then A, deadlock, and
// PostgreSQL breaks the deadlock after deadlock_timeout (1 s by default)
// with an error the runner retries. A savepoint rolled back releases the
// locks taken after it; the unit then locks again when asked. The ROLLBACK
// TO SAVEPOINT of a failed nested unit rides with the unit's next round
// trip (or its end), so those locks are held until then: do slow work
// outside the unit, not after a failed nested unit inside it.
//
// Portfolios the unit already has are locked too, without loading them
// again; if one changed in the database since it was loaded, the load fails
// with domain.ErrVersionConflict (at READ COMMITTED; at REPEATABLE READ the
// server refuses to lock a row changed since the unit's snapshot first:
// ErrSerialization). Both are retried. Read units cannot lock: ErrReadOnly.
func ForUpdate() LoadOption { return func(o *loadOpts) { o.lock = true } }

// ListOptions selects a page of a listing.
type ListOptions struct {
	// NameContains keeps only names (of a security, also symbols) that
	// contain it, ignoring case (both are lower-cased, then normalized to
	// NFC); LIKE wildcards in it match themselves. Empty: no filter.
	// PostgreSQL lower-cases by the database's LC_CTYPE: under C.UTF-8 or
	// a language's UTF-8 locale, É matches é; under the C locale only
	// ASCII letters ignore case.
	NameContains string
	// After is the last name (portfolios) or symbol (securities) of the
	// previous page; empty for the first page.
	After string
	// Limit is the page size: 1 to MaxPageSize, default 100.
	Limit int
}

// MaxPageSize bounds ListOptions.Limit.
const MaxPageSize = 1000

// checkText refuses text PostgreSQL's text type would: invalid UTF-8 and
// NUL bytes, with domain.ErrInvalid before anything is sent.
func (o ListOptions) checkText(op string) error {
	for _, s := range []struct{ what, text string }{{"search text", o.NameContains}, {"cursor (after)", o.After}} {
		if !storable(s.text) {
			return fmt.Errorf("%s: %w %s: it must be UTF-8 text without NUL bytes", op, domain.ErrInvalid, s.what)
		}
	}
	return nil
}

// storable reports whether PostgreSQL's text type can hold s: UTF-8
// without NUL bytes.
func storable(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

func (o ListOptions) limit() (int32, error) {
	switch {
	case o.Limit == 0:
		return 100, nil
	case o.Limit < 1 || o.Limit > MaxPageSize:
		return 0, fmt.Errorf("%w page size %d: use 1 to %d", domain.ErrInvalid, o.Limit, MaxPageSize)
	}
	return int32(o.Limit), nil
}

func optText(s string) pgtype.Text { return pgtype.Text{String: s, Valid: s != ""} }

// Get returns the portfolio with this id. A portfolio the unit already has
// is returned as is, without a query; one removed in this unit is not found.
// errors.Is(err, domain.ErrNotFound) when there is none.
func (r Portfolios) Get(ctx context.Context, id uuid.UUID, opts ...LoadOption) (*domain.Portfolio, error) {
	ps, err := r.GetMany(ctx, []uuid.UUID{id}, opts...)
	if err != nil {
		return nil, err
	}
	return ps[0], nil
}

// GetMany returns the portfolios with these ids, in the same order, loading
// the ones the unit does not have yet in one round trip: one statement for
// the portfolios, one for all their lots (and one for their securities with
// WithSecurities); up to four of them load with a pair of single-id
// statements each instead, which PostgreSQL plans once (see the package
// documentation), unless the same call also locks portfolios the unit has
// or fetches the securities of ones it has. errors.Is(err, domain.ErrNotFound) if any is missing.
func (r Portfolios) GetMany(ctx context.Context, ids []uuid.UUID, opts ...LoadOption) ([]*domain.Portfolio, error) {
	if err := r.u.usable(); err != nil {
		return nil, err
	}
	var o loadOpts
	for _, f := range opts {
		f(&o)
	}
	u := r.u
	if o.lock && u.readOnly {
		return nil, fmt.Errorf("lock portfolios: %w", ErrReadOnly)
	}
	var missing, relock []uuid.UUID
	for _, id := range ids {
		e, ok := u.portfolios[id]
		switch {
		case !ok:
			missing = append(missing, id)
		case o.lock && e.state == statePersistent && !e.locked:
			relock = append(relock, id)
		}
	}
	if len(missing) > 1 && len(missing) <= 4*fewIDs {
		// loadFew wants them in id order; a few ids, repeated, are still a few.
		missing = sortedUnique(missing)
	}
	// The portfolios whose securities to load: those loaded now, and those
	// the unit has whose lots hold a security it does not.
	var secsFor []uuid.UUID
	secsOfTracked := false
	if o.securities {
		for _, id := range ids {
			e, ok := u.portfolios[id]
			if !ok || !u.hasSecuritiesOf(e.p) {
				secsFor = append(secsFor, id)
				secsOfTracked = secsOfTracked || ok
			}
		}
	}
	o.symbols = u.missingSymbols(o.symbols)
	var err error
	switch {
	case len(missing) > 0 && len(missing) <= fewIDs && len(relock) == 0 && !secsOfTracked:
		// The securities of the portfolios loaded, which are all of them.
		err = u.loadFew(ctx, missing, o)
	case len(missing) > 0 || len(relock) > 0 || len(secsFor) > 0 || len(o.symbols) > 0:
		err = u.loadPortfolios(ctx, missing, relock, secsFor, o)
	}
	if err != nil {
		return nil, err
	}
	out := make([]*domain.Portfolio, len(ids))
	for i, id := range ids {
		e, ok := u.portfolios[id]
		if !ok || e.state == stateRemoved {
			return nil, fmt.Errorf("portfolio %s: %w", id, domain.ErrNotFound)
		}
		out[i] = e.p
	}
	return out, nil
}

// hasSecuritiesOf reports whether the unit has every security p's lots
// hold.
func (u *Unit) hasSecuritiesOf(p *domain.Portfolio) bool {
	for l := range p.Lots() {
		if _, ok := u.securities[l.SecurityID()]; !ok {
			return false
		}
	}
	return true
}

// fewIDs is how many portfolios load with statements of their own rather
// than with the "= ANY" statements of loadPortfolios. PostgreSQL keeps a
// generic plan for "id = $1" and plans "id = ANY($1)" afresh on every
// execution: for the two portfolios of a transfer, planning the two array
// statements cost about 100 µs of server time, more than running the four
// single-id ones (pg_stat_statements over BenchmarkTransfer).
const fewIDs = 4

// loadFew loads a few portfolios with their lots (and securities) in one
// round trip, with statements of their own for each id. ids must be in id
// order without repeats (sortedUnique), the order every unit locks
// portfolio rows in.
func (u *Unit) loadFew(ctx context.Context, ids []uuid.UUID, o loadOpts) error {
	securities, lock := o.securities, o.lock
	roots := make([]*dbgen.Portfolio, len(ids))
	lots := make([][]*dbgen.ListInvestmentsByPortfolioRow, len(ids))
	secs := make([][]*dbgen.Security, len(ids))
	get := (*dbgen.Queries).GetPortfolio
	if lock {
		get = (*dbgen.Queries).GetPortfolioForUpdate
	}
	calls := make([]call, 0, 3*len(ids))
	for i, id := range ids {
		calls = append(calls,
			call{run: func(q *dbgen.Queries) error {
				// Run twice (see session.roundTrip): only the answer counts.
				root, err := get(q, ctx, id)
				roots[i] = nil
				switch {
				case errors.Is(err, pgx.ErrNoRows):
					return nil
				case err != nil:
					return err
				}
				roots[i] = root
				return nil
			}},
			call{run: func(q *dbgen.Queries) (err error) { lots[i], err = q.ListInvestmentsByPortfolio(ctx, id); return err }})
		if securities {
			calls = append(calls, call{run: func(q *dbgen.Queries) (err error) {
				secs[i], err = q.GetSecuritiesOfPortfolio(ctx, id)
				return err
			}})
		}
	}
	bySymbol := u.symbolsCall(ctx, o.symbols, &calls)
	if err := u.s.roundTrip(ctx, calls); err != nil {
		if len(ids) == 1 {
			return fmt.Errorf("load portfolio: %w", err)
		}
		return fmt.Errorf("load portfolios: %w", err)
	}
	for _, ss := range secs {
		if err := u.trackSecurities(ss); err != nil {
			return err
		}
	}
	if err := u.trackBySymbol(bySymbol); err != nil {
		return err
	}
	found := roots[:0:0]
	var all []*dbgen.ListInvestmentsByPortfolioRow
	for i, root := range roots {
		if root != nil {
			found = append(found, root)
			all = append(all, lots[i]...)
		}
	}
	_, err := trackPortfolios(u, found, all)
	if err == nil && lock {
		for _, root := range found {
			u.portfolios[root.ID].locked = true
		}
	}
	return err
}

// loadPortfolios loads the portfolios with ids and all their lots, and the
// securities the portfolios in secsFor hold, in one round trip. With lock,
// it locks the rows of ids and of relock, portfolios the unit has already
// loaded, and checks that those have not changed since.
func (u *Unit) loadPortfolios(ctx context.Context, ids, relock, secsFor []uuid.UUID, o loadOpts) error {
	lock := o.lock
	var roots []*dbgen.Portfolio
	var lots []*dbgen.ListInvestmentsByPortfolioIDsRow
	var secs []*dbgen.Security
	var calls []call
	get, rootIDs := (*dbgen.Queries).GetPortfoliosByIDs, ids
	if lock {
		get, rootIDs = (*dbgen.Queries).GetPortfoliosByIDsForUpdate, append(slices.Clip(ids), relock...)
	}
	if len(rootIDs) > 0 {
		calls = append(calls,
			call{run: func(q *dbgen.Queries) (err error) { roots, err = get(q, ctx, rootIDs); return err }})
	}
	if len(ids) > 0 {
		calls = append(calls,
			call{run: func(q *dbgen.Queries) (err error) {
				lots, err = q.ListInvestmentsByPortfolioIDs(ctx, ids)
				return err
			}})
	}
	if len(secsFor) > 0 {
		calls = append(calls, call{run: func(q *dbgen.Queries) (err error) {
			secs, err = q.GetSecuritiesOfPortfolios(ctx, secsFor)
			return err
		}})
	}
	bySymbol := u.symbolsCall(ctx, o.symbols, &calls)
	if err := u.s.roundTrip(ctx, calls); err != nil {
		return fmt.Errorf("load portfolios: %w", err)
	}
	if err := u.trackSecurities(secs); err != nil {
		return err
	}
	if err := u.trackBySymbol(bySymbol); err != nil {
		return err
	}
	if lock {
		if err := u.checkRelocked(roots, relock); err != nil {
			return err
		}
	}
	_, err := trackPortfolios(u, roots, lots)
	if err == nil && lock {
		for _, row := range roots {
			u.portfolios[row.ID].locked = true
		}
	}
	return err
}

// checkRelocked compares the rows locked for portfolios the unit already
// had with what the unit loaded: a version that moved means the object is
// stale, and the unit's changes to it would fail at the flush anyway.
func (u *Unit) checkRelocked(roots []*dbgen.Portfolio, relock []uuid.UUID) error {
	if len(relock) == 0 {
		return nil
	}
	versions := make(map[uuid.UUID]int64, len(roots))
	for _, row := range roots {
		versions[row.ID] = row.Version
	}
	for _, id := range relock {
		e := u.portfolios[id]
		if v, ok := versions[id]; !ok || v != e.snap.Version {
			return &Error{
				Op:   fmt.Sprintf("lock portfolio %q", e.snap.Name),
				Kind: domain.ErrVersionConflict,
				Err:  errors.New("changed or deleted since the unit loaded it"),
			}
		}
	}
	return nil
}

// GetByName returns the portfolio with this exact name, in one round trip
// (portfolio, lots, and securities with WithSecurities; two at READ
// COMMITTED without ForUpdate: the portfolio, then its lots by its id). The name is put in
// the Unicode normalization form names are stored in (domain.NormalizeText),
// so "e" and a combining accent finds "é". Unlike Get it always queries, as
// names change; if the unit already has the portfolio, that object is
// returned. The name is looked up as stored: after p.Rename("New") and
// before a Flush, GetByName("Old") finds p (now named "New") and
// GetByName("New") finds nothing. errors.Is(err, domain.ErrNotFound) when
// there is none.
func (r Portfolios) GetByName(ctx context.Context, name string, opts ...LoadOption) (*domain.Portfolio, error) {
	if err := r.u.usable(); err != nil {
		return nil, err
	}
	name = domain.NormalizeText(name)
	var o loadOpts
	for _, f := range opts {
		f(&o)
	}
	u := r.u
	if o.lock && u.readOnly {
		return nil, fmt.Errorf("lock portfolio %q: %w", name, ErrReadOnly)
	}
	if !storable(name) {
		// No portfolio has the name, and sent it would abort the
		// transaction.
		return nil, fmt.Errorf("portfolio %q: %w", name, domain.ErrNotFound)
	}
	var root *dbgen.Portfolio
	var found bool
	var lots []*dbgen.ListInvestmentsByPortfolioNameRow
	var secs []*dbgen.Security
	get := (*dbgen.Queries).GetPortfolioByName
	if o.lock {
		get = (*dbgen.Queries).GetPortfolioByNameForUpdate
	}
	calls := []call{{run: func(q *dbgen.Queries) error {
		var err error
		root, err = get(q, ctx, name)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	}}}
	// At READ COMMITTED the lots are loaded by the id found, in a round
	// trip of their own (see loadByNameInSteps), unless the first
	// statement locks the row: then nothing can change the name or the
	// lots before the second reads them.
	inSteps := u.s.snapshotPerStatement && !o.lock
	if !inSteps {
		calls = append(calls, call{run: func(q *dbgen.Queries) (err error) {
			lots, err = q.ListInvestmentsByPortfolioName(ctx, name)
			return err
		}})
		if o.securities {
			calls = append(calls, call{run: func(q *dbgen.Queries) (err error) {
				secs, err = q.GetSecuritiesOfPortfolioByName(ctx, name)
				return err
			}})
		}
	}
	bySymbol := u.symbolsCall(ctx, u.missingSymbols(o.symbols), &calls)
	if err := u.s.roundTrip(ctx, calls); err != nil {
		return nil, fmt.Errorf("load portfolio %q: %w", name, err)
	}
	if err := u.trackSecurities(secs); err != nil {
		return nil, err
	}
	if err := u.trackBySymbol(bySymbol); err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("portfolio %q: %w", name, domain.ErrNotFound)
	}
	if o.lock {
		if e, ok := u.portfolios[root.ID]; ok && e.state == statePersistent && !e.locked {
			if err := u.checkRelocked([]*dbgen.Portfolio{root}, []uuid.UUID{root.ID}); err != nil {
				return nil, err
			}
		}
	}
	if inSteps {
		return r.loadByNameInSteps(ctx, name, root.ID, o)
	}
	ps, err := trackPortfolios(u, []*dbgen.Portfolio{root}, lots)
	if err != nil {
		return nil, err
	}
	return r.found(name, ps[0], o)
}

// loadByNameInSteps is GetByName's second round trip at READ COMMITTED,
// where each statement reads the latest commits: lots loaded by the name
// beside the portfolio row could be another portfolio's, were the name
// taken from one and given to another between the two statements, and the
// portfolio found would come with no lots, at a version that could not
// tell. So the lots (and securities) are loaded by the id found, with
// loadFew, as Get loads them; a portfolio deleted in between is not found.
// The unit's own object, if it has one, needs no lots. (With ForUpdate
// GetByName does not come here: the lock holds the name and lots still.)
func (r Portfolios) loadByNameInSteps(ctx context.Context, name string, id uuid.UUID, o loadOpts) (*domain.Portfolio, error) {
	u := r.u
	e, had := u.portfolios[id]
	if !had || o.securities && !u.hasSecuritiesOf(e.p) {
		if err := u.loadFew(ctx, []uuid.UUID{id}, loadOpts{securities: o.securities}); err != nil {
			return nil, err
		}
	}
	e, ok := u.portfolios[id]
	if !ok {
		return nil, fmt.Errorf("portfolio %q: %w", name, domain.ErrNotFound)
	}
	return r.found(name, e.p, o)
}

// found ends GetByName with p, the unit's object for the name: a portfolio
// the unit removed is not found, and one loaded with ForUpdate is marked
// locked.
func (r Portfolios) found(name string, p *domain.Portfolio, o loadOpts) (*domain.Portfolio, error) {
	e := r.u.portfolios[p.ID()]
	if e.state == stateRemoved {
		return nil, fmt.Errorf("portfolio %q: %w", name, domain.ErrNotFound)
	}
	if o.lock {
		e.locked = true
	}
	return p, nil
}

// List returns a page of portfolios in name order, each with its lots, in
// one round trip (two at READ COMMITTED: the page, then its lots, so that
// the lots are those of the portfolios listed). Pass the last name of a page as After to get the next.
// Name order is the database's collation of the name column (code-point
// order under C.UTF-8, where "Zed" comes before "apple").
// Portfolios removed in this unit are left out, and the page is filled up
// past them, so a page shorter than the limit is still the last.
// NameContains and After are normalized as GetByName's name is, so that a
// cursor in another normalization form of a name (a client's decomposed
// "é") still starts the page after that name.
func (r Portfolios) List(ctx context.Context, opts ListOptions) ([]*domain.Portfolio, error) {
	if err := r.u.usable(); err != nil {
		return nil, err
	}
	if err := opts.checkText("list portfolios"); err != nil {
		return nil, err
	}
	opts.NameContains = domain.NormalizeText(opts.NameContains)
	opts.After = domain.NormalizeText(opts.After)
	limit, err := opts.limit()
	if err != nil {
		return nil, err
	}
	want := int(limit)
	for _, e := range r.u.portfolios {
		if e.state == stateRemoved {
			limit++ // it may be in the page, and is left out
		}
	}
	var roots []*dbgen.Portfolio
	list := call{run: func(q *dbgen.Queries) (err error) {
		roots, err = q.ListPortfolios(ctx, dbgen.ListPortfoliosParams{
			NameContains: optText(opts.NameContains), After: optText(opts.After), PageSize: limit,
		})
		return err
	}}
	var ps []*domain.Portfolio
	if r.u.s.snapshotPerStatement {
		if err = r.u.s.roundTrip(ctx, []call{list}); err != nil {
			return nil, fmt.Errorf("list portfolios: %w", err)
		}
		ps, err = r.withLots(ctx, roots)
	} else {
		var lots []*dbgen.ListInvestmentsForPortfolioListRow
		calls := []call{list, {run: func(q *dbgen.Queries) (err error) {
			lots, err = q.ListInvestmentsForPortfolioList(ctx, dbgen.ListInvestmentsForPortfolioListParams{
				NameContains: optText(opts.NameContains), After: optText(opts.After), PageSize: limit,
			})
			return err
		}}}
		if err = r.u.s.roundTrip(ctx, calls); err != nil {
			return nil, fmt.Errorf("list portfolios: %w", err)
		}
		ps, err = trackPortfolios(r.u, roots, lots)
	}
	if err != nil {
		return nil, err
	}
	out := ps[:0]
	for _, p := range ps {
		if r.u.portfolios[p.ID()].state != stateRemoved && len(out) < want {
			out = append(out, p)
		}
	}
	return out, nil
}

// withLots tracks the portfolios of roots, a page List read, loading the
// lots of those the unit does not have by their ids, in a round trip of
// its own. At READ COMMITTED each statement reads the latest commits: the
// lots of "the same page", loaded in the round trip of the list, would be
// another page's if a portfolio came, went or was renamed across its
// bounds between the two statements, and a listed portfolio would then
// come with no lots, at a version that could not tell.
func (r Portfolios) withLots(ctx context.Context, roots []*dbgen.Portfolio) ([]*domain.Portfolio, error) {
	var lots []*dbgen.ListInvestmentsByPortfolioIDsRow
	var ids []uuid.UUID
	for _, row := range roots {
		if _, ok := r.u.portfolios[row.ID]; !ok {
			ids = append(ids, row.ID) // the unit's own objects win anyway
		}
	}
	if len(ids) > 0 {
		err := r.u.s.roundTrip(ctx, []call{{run: func(q *dbgen.Queries) (err error) {
			lots, err = q.ListInvestmentsByPortfolioIDs(ctx, ids)
			return err
		}}})
		if err != nil {
			return nil, fmt.Errorf("list portfolios: %w", err)
		}
	}
	return trackPortfolios(r.u, roots, lots)
}

// Add makes p part of the unit: it is inserted, with its lots, at the next
// flush. Adding a portfolio the unit already has does nothing; adding one
// removed in this unit undoes the removal. A portfolio whose id or name is
// taken fails the flush with domain.ErrAlreadyExists, and so does another
// object with the id of one the unit has (such as a copy loaded in another
// unit: its changes would otherwise be lost without a word).
//
// Add always inserts: it is not SQLAlchemy's add of a detached object,
// which updates the row under its version. An object loaded in another
// unit fails the flush with domain.ErrAlreadyExists while its row exists,
// and is inserted anew, as version 1, if the row has been deleted since.
// To change a stored portfolio, load it in the unit that changes it.
// (Add does not refuse objects that have a version: one made outside fn
// and added in it has one after a flush of an attempt that was then
// retried, and must be inserted again.)
func (r Portfolios) Add(p *domain.Portfolio) {
	r.u.mustBeOpen("Add")
	if e, ok := r.u.portfolios[p.ID()]; ok {
		switch {
		case e.p != p:
			r.u.refuse(fmt.Errorf("add portfolio %q: the unit has another object for its id %s: %w",
				p.Name(), p.ID(), domain.ErrAlreadyExists))
		case e.state == stateRemoved:
			e.state = statePersistent
		}
		return
	}
	r.u.portfolios[p.ID()] = &portfolioEntry{p: p, state: stateNew}
}

// Remove deletes p, with its lots, at the next flush, if its version is
// still the one loaded. p must have been loaded or added in this unit
// (errors.Is(err, domain.ErrNotFound) otherwise); removing an added one just
// forgets it.
func (r Portfolios) Remove(p *domain.Portfolio) error {
	if err := r.u.usable(); err != nil {
		return err
	}
	e, ok := r.u.portfolios[p.ID()]
	if !ok || e.p != p {
		return fmt.Errorf("remove portfolio %q: not loaded in this unit: %w", p.Name(), domain.ErrNotFound)
	}
	if e.state == stateNew {
		delete(r.u.portfolios, p.ID())
		return nil
	}
	e.state = stateRemoved
	return nil
}

// trackPortfolios puts loaded rows into the identity map and returns the
// objects for them, in row order: for a row the unit already has, the object
// it has (what the unit holds wins over what the database says, as in
// SQLAlchemy). lots must be grouped by portfolio.
func trackPortfolios[R lotRow](u *Unit, roots []*dbgen.Portfolio, lots []*R) ([]*domain.Portfolio, error) {
	byPortfolio := make(map[uuid.UUID][]*R, len(roots))
	for i := 0; i < len(lots); {
		j := i + 1
		for j < len(lots) && lot(*lots[j]).PortfolioID == lot(*lots[i]).PortfolioID {
			j++
		}
		byPortfolio[lot(*lots[i]).PortfolioID] = lots[i:j:j]
		i = j
	}
	out := make([]*domain.Portfolio, len(roots))
	for i, row := range roots {
		if e, ok := u.portfolios[row.ID]; ok {
			out[i] = e.p
			continue
		}
		st := portfolioState(row, byPortfolio[row.ID])
		p, err := restorePortfolio(st)
		if err != nil {
			return nil, err
		}
		// The rows arrive in FIFO order (acquired_on, id; PostgreSQL orders
		// uuids bytewise), the order the domain keeps lots in and diffLots
		// walks them in, so st serves as the snapshot as it is.
		e := &portfolioEntry{p: p, snap: st, state: statePersistent, changes: p.Changes()}
		u.portfolios[row.ID] = e
		if u.nested > 0 {
			u.bornP = append(u.bornP, *e)
		}
		out[i] = p
	}
	return out, nil
}
