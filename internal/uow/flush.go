package uow

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/folio-dev/folio/internal/dbgen"
	"github.com/folio-dev/folio/internal/domain"
)

// plan compares every tracked aggregate with its snapshot and returns the
// statements that bring the database in line, in an order the foreign keys
// accept, together with a function that records the new state once the
// statements have been executed.
//
// The order, and why:
//  1. new securities, then changed securities: lots may reference them;
//  2. per portfolio, in id order: insert a new one, or check and bump the
//     version of a changed one (renaming it in the same statement), or
//     delete a removed one; many bumps alone go in one statement that
//     locks in id order too (portfolioWrites). Taking the portfolio row
//     locks in one global order keeps two units that touch the same
//     portfolios from deadlocking; holding the lock on a portfolio guards
//     its lots from every other unit. When a new or renamed portfolio takes
//     the name of a removed one, the deletes go first instead; when it
//     takes the old name of a renamed one (two may even swap names), the
//     names are checked once, after the portfolio statements (SET
//     CONSTRAINTS), rather than after each. That check may wait for
//     another transaction's uncommitted name, outside the id order: two
//     units swapping overlapping names can deadlock, and are retried;
//  3. lots: removed ones deleted, changed quantities updated, new ones
//     inserted, each kind in one statement when there are many;
//  4. removed securities last, once no lot of this unit references them.
//     A new security that takes the symbol of a removed one is inserted
//     after that delete, and the new lots after it.
func (u *Unit) plan(ctx context.Context) ([]call, func()) {
	if u.untouched() {
		return nil, func() {}
	}
	var (
		calls []call
		after []func()
	)
	late := u.planSecurities(ctx, &calls, &after)

	var ins lotInserts
	var upd lotUpdates
	var del []uuid.UUID
	var pw portfolioWrites
	for _, id := range sortedIDs(u.portfolios) {
		e := u.portfolios[id]
		switch e.state {
		case stateNew:
			st := e.p.State()
			pw.taken = append(pw.taken, st.Name)
			pw.callIDs = append(pw.callIDs, id)
			pw.calls = append(pw.calls, call{
				run: func(q *dbgen.Queries) error { return q.InsertPortfolio(ctx, toInsertPortfolio(st)) },
				fail: failure{
					op:     fmt.Sprintf("add portfolio %q", st.Name),
					unique: domain.ErrAlreadyExists,
				}.fn(),
			})
			for _, l := range st.Investments {
				ins.add(st, l)
			}
			after = append(after, func() {
				st.Version = 1
				e.p.SetVersion(1)
				e.snap, e.state, e.changes = st, statePersistent, e.p.Changes()
				e.locked = true // the row is this transaction's until it ends
			})
		case statePersistent:
			if e.p.Changes() == e.changes {
				continue
			}
			st := e.p.State()
			d := diffLots(e.snap.Investments, st.Investments)
			renamed := st.Name != e.snap.Name
			if !renamed && d.empty() && st.LastSaleOn.Equal(e.snap.LastSaleOn) {
				continue
			}
			if st.Currency != e.snap.Currency {
				panic(fmt.Sprintf("uow: currency of portfolio %s changed", st.ID))
			}
			pw.version(ctx, id, e.snap, st, renamed)
			for _, l := range d.inserted {
				ins.add(st, l)
			}
			for _, l := range d.updated {
				upd.add(l)
			}
			del = append(del, d.deleted...)
			after = append(after, func() {
				st.Version = e.snap.Version + 1
				e.p.SetVersion(st.Version)
				e.snap, e.changes = st, e.p.Changes()
				e.locked = true // the version bump took the row lock ForUpdate takes
			})
		case stateRemoved:
			snap := e.snap
			pw.freed = append(pw.freed, snap.Name)
			pw.deleteIDs = append(pw.deleteIDs, id)
			pw.deletes = append(pw.deletes, call{
				run: func(q *dbgen.Queries) error {
					return q.DeletePortfolio(ctx, dbgen.DeletePortfolioParams{ID: snap.ID, Version: snap.Version})
				},
				fail: failure{op: fmt.Sprintf("delete portfolio %q", snap.Name)}.fn(),
			})
			after = append(after, func() { delete(u.portfolios, id) })
		}
	}
	calls = pw.append(ctx, calls, u.cfg.bulk)

	if len(del) > 0 {
		calls = append(calls, call{
			run:  func(q *dbgen.Queries) error { return q.DeleteInvestments(ctx, del) },
			fail: failure{op: fmt.Sprintf("delete %d lots", len(del))}.fn(),
		})
	}
	calls = upd.calls(ctx, calls, u.cfg.bulk)
	if len(late) == 0 {
		calls = ins.calls(ctx, calls, u.cfg.bulk)
	}

	for _, id := range sortedIDs(u.securities) {
		e := u.securities[id]
		if e.state != stateRemoved {
			continue
		}
		sym := e.snap.Symbol
		calls = append(calls, call{
			run: func(q *dbgen.Queries) error { return q.DeleteSecurity(ctx, id) },
			fail: failure{
				op:       "delete security " + sym,
				foreign:  domain.ErrInUse,
				mismatch: domain.ErrNotFound,
			}.fn(),
		})
		after = append(after, func() {
			delete(u.securities, id)
			if u.symbols[sym] == e {
				delete(u.symbols, sym)
			}
		})
	}
	if len(late) > 0 {
		calls = append(calls, late...)
		calls = ins.calls(ctx, calls, u.cfg.bulk)
	}

	return calls, func() {
		for _, f := range after {
			f()
		}
	}
}

// untouched reports that nothing the unit tracks can have changed since it
// was loaded or last flushed: no aggregate is new or removed, none has been
// through a method that changes it, and no quotes are queued. It looks at
// each object once, in no order, and spares a unit that only read (a Read
// unit, say, with a thousand portfolios) the sorting and comparing of plan.
func (u *Unit) untouched() bool {
	if len(u.quotes) > 0 {
		return false
	}
	for _, e := range u.portfolios {
		if e.state != statePersistent || e.p.Changes() != e.changes {
			return false
		}
	}
	for _, e := range u.securities {
		if e.state != statePersistent || e.s.Changes() != e.changes {
			return false
		}
	}
	return true
}

// portfolioWrites gathers the statements that write portfolio rows in one
// flush, in id order: inserts, version bumps, renames and deletes.
type portfolioWrites struct {
	// deletes and calls, each in id order, with the ids of their
	// portfolios; see append for the order they go in.
	deletes, calls     []call
	deleteIDs, callIDs []uuid.UUID
	// freed are the names of the deleted portfolios, taken those of the
	// new and renamed ones, vacated the old names of the renamed ones.
	freed, taken, vacated []string
	// bumps are the portfolios whose version alone changes (their lots
	// changed, and the day of their latest sale perhaps), and bumpAt the
	// index of each one's statement in calls.
	bumps  []bump
	bumpAt []int
	// renames counts the renames, which lock existing rows with
	// statements of their own (so do deletes, see append).
	renames int
}

// passesName reports whether a new or renamed portfolio takes the old name
// of one the flush renames.
func (w *portfolioWrites) passesName() bool {
	for _, n := range w.taken {
		if slices.Contains(w.vacated, n) {
			return true
		}
	}
	return false
}

// reusesName reports whether a new or renamed portfolio takes the name of
// one the flush deletes.
func (w *portfolioWrites) reusesName() bool {
	for _, n := range w.taken {
		if slices.Contains(w.freed, n) {
			return true
		}
	}
	return false
}

// merged appends deletes and calls to out in one id order.
func (w *portfolioWrites) merged(out []call) []call {
	i, j := 0, 0
	for i < len(w.deletes) || j < len(w.calls) {
		if j == len(w.calls) || (i < len(w.deletes) && compareIDs(w.deleteIDs[i], w.callIDs[j]) < 0) {
			out = append(out, w.deletes[i])
			i++
		} else {
			out = append(out, w.calls[j])
			j++
		}
	}
	return out
}

// bump is a version bump of a portfolio whose name stays.
type bump struct {
	id       uuid.UUID
	version  int64 // as loaded
	name     string
	lastSale *time.Time // the day of the latest sale, if it moved
}

// version checks and bumps the version of a changed portfolio, renaming it
// in the same statement when its name changed, and setting the day of its
// latest sale when a sale moved it.
func (w *portfolioWrites) version(ctx context.Context, id uuid.UUID, old, cur domain.PortfolioState, renamed bool) {
	f := failure{op: fmt.Sprintf("save portfolio %q", old.Name)}
	w.callIDs = append(w.callIDs, id)
	var lastSale *time.Time // nil: unchanged
	if !cur.LastSaleOn.Equal(old.LastSaleOn) {
		lastSale = &cur.LastSaleOn
	}
	if !renamed {
		w.bumps = append(w.bumps, bump{id: old.ID, version: old.Version, name: old.Name, lastSale: lastSale})
		w.bumpAt = append(w.bumpAt, len(w.calls))
		w.calls = append(w.calls, call{
			run: func(q *dbgen.Queries) error {
				return q.BumpPortfolioVersion(ctx, dbgen.BumpPortfolioVersionParams{ID: old.ID, Version: old.Version, LastSaleOn: lastSale})
			},
			fail: f.fn(),
		})
		return
	}
	f.op = fmt.Sprintf("rename portfolio %q to %q", old.Name, cur.Name)
	f.unique = domain.ErrAlreadyExists
	w.renames++
	w.taken = append(w.taken, cur.Name)
	w.vacated = append(w.vacated, old.Name)
	w.calls = append(w.calls, call{
		run: func(q *dbgen.Queries) error {
			return q.UpdatePortfolioName(ctx, dbgen.UpdatePortfolioNameParams{
				ID: old.ID, Version: old.Version, Name: cur.Name, LastSaleOn: lastSale,
			})
		},
		fail: f.fn(),
	})
}

// ignoredDay fills the places of BumpPortfolioVersions' last_sales_on
// whose sold is false: their day did not move.
var ignoredDay = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

// append adds the statements to calls. More version bumps than bulk become
// one statement, which locks the rows in id order as the separate
// statements would; when renames or deletes lock rows too, every portfolio
// keeps its own statement, so that all the row locks are still taken in id
// order.
//
// A few bumps stay separate statements because PostgreSQL keeps a generic
// plan for BumpPortfolioVersion's "id = $1" and plans the array statement
// afresh every time: for the two portfolios of a transfer, the one statement
// took 77 µs to plan and 100 µs to run, the two took 1 µs and 56 µs each
// (pg_stat_statements over BenchmarkTransfer).
//
// Deletes take their place in the id order too, unless a new or renamed
// portfolio takes the name of a deleted one: then all the deletes go first,
// so that the name is free when it is taken. The row locks are then taken
// in two passes in id order, deletes first; two units that both change
// and delete portfolios they share may deadlock, which PostgreSQL breaks
// and the runner retries.
func (w *portfolioWrites) append(ctx context.Context, calls []call, bulk int) []call {
	if w.passesName() {
		// The names move between the portfolios of this flush, in a
		// cycle perhaps (a swap): no order of the statements keeps them
		// unique after each one, so they are checked after the last.
		calls = append(calls, call{run: func(q *dbgen.Queries) error { return q.DeferPortfolioNameCheck(ctx) }})
		calls = w.ordered(ctx, calls, bulk)
		return append(calls, call{
			run: func(q *dbgen.Queries) error { return q.CheckPortfolioNames(ctx) },
			fail: failure{
				op:     "save portfolio names",
				unique: domain.ErrAlreadyExists,
			}.fn(),
		})
	}
	return w.ordered(ctx, calls, bulk)
}

// ordered adds the statements to calls in the order append describes.
func (w *portfolioWrites) ordered(ctx context.Context, calls []call, bulk int) []call {
	if len(w.deletes) > 0 {
		if w.reusesName() {
			calls = append(calls, w.deletes...)
			return append(calls, w.calls...)
		}
		return w.merged(calls)
	}
	if len(w.bumps) <= bulk || w.renames > 0 {
		return append(calls, w.calls...)
	}
	next := 0
	for i, c := range w.calls {
		if next < len(w.bumpAt) && w.bumpAt[next] == i {
			next++
			continue
		}
		calls = append(calls, c)
	}
	arg := dbgen.BumpPortfolioVersionsParams{
		Ids:         make([]uuid.UUID, len(w.bumps)),
		Versions:    make([]int64, len(w.bumps)),
		Sold:        make([]bool, len(w.bumps)),
		LastSalesOn: make([]time.Time, len(w.bumps)),
	}
	var names []string
	for i, b := range w.bumps {
		arg.Ids[i], arg.Versions[i], arg.LastSalesOn[i] = b.id, b.version, ignoredDay
		if b.lastSale != nil {
			arg.Sold[i], arg.LastSalesOn[i] = true, *b.lastSale
		}
		if len(w.bumps) <= 5 {
			names = append(names, strconv.Quote(b.name))
		}
	}
	op := fmt.Sprintf("save %d portfolios", len(w.bumps))
	if names != nil {
		op = "save portfolios " + strings.Join(names, ", ")
	}
	return append(calls, call{
		run:  func(q *dbgen.Queries) error { return q.BumpPortfolioVersions(ctx, arg) },
		fail: failure{op: op}.fn(),
	})
}

// It returns the inserts of new securities that take the symbol of a
// removed one, which must wait for its delete.
func (u *Unit) planSecurities(ctx context.Context, calls *[]call, after *[]func()) (late []call) {
	var (
		// changed are the tracked securities renamed or repriced, in id
		// order.
		changed []securityWrite
		freed   map[string]bool
	)
	for _, e := range u.securities {
		if e.state == stateRemoved {
			if freed == nil {
				freed = make(map[string]bool)
			}
			freed[e.snap.Symbol] = true
		}
	}
	for _, id := range sortedIDs(u.securities) {
		e := u.securities[id]
		switch e.state {
		case stateNew:
			st := e.s.State()
			insert := call{
				run: func(q *dbgen.Queries) error { return q.InsertSecurity(ctx, toInsertSecurity(st)) },
				fail: failure{
					op:     "add security " + st.Symbol,
					unique: domain.ErrAlreadyExists,
				}.fn(),
			}
			if freed[st.Symbol] {
				late = append(late, insert)
			} else {
				*calls = append(*calls, insert)
			}
			*after = append(*after, func() { e.snap, e.state, e.changes = st, statePersistent, e.s.Changes() })
		case statePersistent:
			if e.s.Changes() == e.changes {
				continue
			}
			st := e.s.State()
			var w securityWrite
			if old := e.snap.Name; st.Name != old {
				w.rename = &call{
					run: func(q *dbgen.Queries) error {
						return q.UpdateSecurityName(ctx, dbgen.UpdateSecurityNameParams{ID: st.ID, Name: st.Name, OldName: old})
					},
					fail: failure{op: "rename security " + st.Symbol}.fn(),
				}
			}
			if !samePrice(st, e.snap) {
				w.price = &[2]domain.SecurityState{st, e.snap}
			}
			if w.rename == nil && w.price == nil {
				continue
			}
			changed = append(changed, w)
			*after = append(*after, func() { e.snap, e.changes = st, e.s.Changes() })
		}
	}
	*calls = appendSecurityWrites(ctx, *calls, changed, u.cfg.bulk)
	if len(u.quotes) == 0 {
		return late
	}
	// A Revalue sets prices whatever they were, as SQLAlchemy's bulk
	// update does: one statement by symbol, which also finds the unknown
	// ones. Its symbols and the tracked securities' are distinct (Revalue
	// sets the price of a tracked one on the object), but for a symbol a
	// new object holds: its quote is left out (see Securities.Add).
	quotes := u.quotes
	if slices.ContainsFunc(quotes, u.heldByNew) {
		quotes = slices.DeleteFunc(slices.Clone(quotes), u.heldByNew)
	}
	if len(quotes) == 0 {
		*after = append(*after, func() { u.quotes = nil })
		return late
	}
	arg := dbgen.UpdateSecurityPricesParams{
		Symbols:    make([]string, len(quotes)),
		Prices:     make([]decimal.Decimal, len(quotes)),
		PriceDates: make([]time.Time, len(quotes)),
	}
	for i, p := range quotes {
		arg.Symbols[i], arg.Prices[i], arg.PriceDates[i] = p.Symbol, p.Price, p.Date
	}
	*calls = append(*calls, call{
		run: func(q *dbgen.Queries) error { return q.UpdateSecurityPrices(ctx, arg) },
		fail: failure{
			op:       fmt.Sprintf("set prices of %d securities", len(quotes)),
			mismatch: domain.ErrNotFound,
		}.fn(),
	})
	*after = append(*after, func() {
		if u.nested > 0 {
			u.repriced = append(u.repriced, arg.Symbols...)
		}
		u.quotes = nil
	})
	return late
}

// heldByNew reports whether a new object holds the symbol of q.
func (u *Unit) heldByNew(q Quote) bool {
	e, ok := u.symbols[q.Symbol]
	return ok && e.state == stateNew
}

// securityWrite is what a flush writes for a tracked security: a rename,
// a new price (as it is now and as it was read), or both.
type securityWrite struct {
	rename *call
	price  *[2]domain.SecurityState
}

// appendSecurityWrites appends the writes of tracked securities, given in
// id order. Up to bulk prices, the statements go security by security in
// id order, so that two units that rename and reprice the same securities
// lock their rows in the same order and cannot deadlock on them. Above it,
// the renames go in id order, then one statement for all the prices, which
// locks in the order of its plan (as Revalue's does).
func appendSecurityWrites(ctx context.Context, calls []call, writes []securityWrite, bulk int) []call {
	var priced [][2]domain.SecurityState
	for _, w := range writes {
		if w.price != nil {
			priced = append(priced, *w.price)
		}
	}
	for _, w := range writes {
		if w.rename != nil {
			calls = append(calls, *w.rename)
		}
		if w.price != nil && len(priced) <= bulk {
			calls = appendRepriced(ctx, calls, [][2]domain.SecurityState{*w.price}, bulk)
		}
	}
	if len(priced) > bulk {
		calls = appendRepriced(ctx, calls, priced, bulk)
	}
	return calls
}

// appendRepriced appends the statements that write the new prices of
// tracked securities, each pair the state now and as read: one statement
// per security up to bulk of them, else one for all. Each write happens
// only if the price and its date are still those read (securities have no
// version), so that a concurrent change is a conflict, retried, rather
// than overwritten, at READ COMMITTED too (at REPEATABLE READ the server
// also refuses it).
func appendRepriced(ctx context.Context, calls []call, repriced [][2]domain.SecurityState, bulk int) []call {
	if len(repriced) == 0 {
		return calls
	}
	if len(repriced) <= bulk {
		for _, r := range repriced {
			now, old := r[0], r[1]
			calls = append(calls, call{
				run: func(q *dbgen.Queries) error {
					return q.UpdateSecurityPrice(ctx, dbgen.UpdateSecurityPriceParams{
						ID:           now.ID,
						LastPrice:    now.LastPrice,
						PriceDate:    now.PriceDate,
						OldPrice:     old.LastPrice,
						OldPriceDate: old.PriceDate,
					})
				},
				fail: failure{op: "set price of " + now.Symbol}.fn(),
			})
		}
		return calls
	}
	n := len(repriced)
	arg := dbgen.UpdateSecurityPricesByIDParams{
		Ids:           make([]uuid.UUID, n),
		Prices:        make([]decimal.Decimal, n),
		PriceDates:    make([]time.Time, n),
		HadPrices:     make([]bool, n),
		OldPrices:     make([]decimal.Decimal, n),
		OldPriceDates: make([]time.Time, n),
	}
	for i, r := range repriced {
		now, old := r[0], r[1]
		arg.Ids[i], arg.Prices[i], arg.PriceDates[i] = now.ID, now.LastPrice.Decimal, *now.PriceDate
		if old.LastPrice.Valid {
			arg.HadPrices[i], arg.OldPrices[i], arg.OldPriceDates[i] = true, old.LastPrice.Decimal, *old.PriceDate
		} else {
			arg.OldPriceDates[i] = *now.PriceDate // a placeholder, not compared
		}
	}
	return append(calls, call{
		run:  func(q *dbgen.Queries) error { return q.UpdateSecurityPricesByID(ctx, arg) },
		fail: failure{op: fmt.Sprintf("set prices of %d securities", n)}.fn(),
	})
}

func samePrice(a, b domain.SecurityState) bool {
	if a.LastPrice.Valid != b.LastPrice.Valid {
		return false
	}
	if !a.LastPrice.Valid {
		return true
	}
	return a.LastPrice.Decimal.Equal(b.LastPrice.Decimal) && a.PriceDate.Equal(*b.PriceDate)
}

// lotDiff is how a portfolio's lots differ from its snapshot.
type lotDiff struct {
	inserted []domain.InvestmentState
	updated  []domain.InvestmentState
	deleted  []uuid.UUID
}

func (d lotDiff) empty() bool {
	return len(d.inserted) == 0 && len(d.updated) == 0 && len(d.deleted) == 0
}

// diffLots compares two lists of lots, both in FIFO order (acquired day,
// then id), in one merge pass. Only the quantity of a lot can change: the
// domain has no way to change anything else about it.
func diffLots(old, cur []domain.InvestmentState) lotDiff {
	var d lotDiff
	i, j := 0, 0
	for i < len(old) || j < len(cur) {
		switch {
		case j == len(cur):
			d.deleted = append(d.deleted, old[i].ID)
			i++
		case i == len(old):
			d.inserted = append(d.inserted, cur[j])
			j++
		default:
			switch c := compareLots(old[i], cur[j]); {
			case c < 0:
				d.deleted = append(d.deleted, old[i].ID)
				i++
			case c > 0:
				d.inserted = append(d.inserted, cur[j])
				j++
			default:
				if old[i].SecurityID != cur[j].SecurityID || !old[i].UnitCost.Equal(cur[j].UnitCost) {
					panic(fmt.Sprintf("uow: lot %s changed more than its quantity", old[i].ID))
				}
				if !old[i].Quantity.Equal(cur[j].Quantity) {
					d.updated = append(d.updated, cur[j])
				}
				i++
				j++
			}
		}
	}
	return d
}

func compareLots(a, b domain.InvestmentState) int {
	if c := a.AcquiredOn.Compare(b.AcquiredOn); c != 0 {
		return c
	}
	return compareIDs(a.ID, b.ID)
}

// lotInserts gathers new lots across portfolios for one flush.
type lotInserts []dbgen.InsertInvestmentParams

func (l *lotInserts) add(p domain.PortfolioState, lot domain.InvestmentState) {
	*l = append(*l, toInsertInvestment(p, lot))
}

func (l lotInserts) calls(ctx context.Context, calls []call, bulk int) []call {
	f := failure{op: "add lot", foreign: domain.ErrNotFound}
	switch {
	case len(l) == 0:
		return calls
	case len(l) <= bulk:
		for _, p := range l {
			calls = append(calls, call{
				run:  func(q *dbgen.Queries) error { return q.InsertInvestment(ctx, p) },
				fail: f.fn(),
			})
		}
		return calls
	}
	arg := dbgen.InsertInvestmentsParams{
		Ids:          make([]uuid.UUID, len(l)),
		PortfolioIds: make([]uuid.UUID, len(l)),
		SecurityIds:  make([]uuid.UUID, len(l)),
		Quantities:   make([]decimal.Decimal, len(l)),
		UnitCosts:    make([]decimal.Decimal, len(l)),
		AcquiredOns:  make([]time.Time, len(l)),
	}
	for i, p := range l {
		arg.Ids[i], arg.PortfolioIds[i], arg.SecurityIds[i] = p.ID, p.PortfolioID, p.SecurityID
		arg.Quantities[i], arg.UnitCosts[i], arg.AcquiredOns[i] = p.Quantity, p.UnitCost, p.AcquiredOn
	}
	f.op = fmt.Sprintf("add %d lots", len(l))
	return append(calls, call{
		run:  func(q *dbgen.Queries) error { return q.InsertInvestments(ctx, arg) },
		fail: f.fn(),
	})
}

// lotUpdates gathers quantity changes across portfolios for one flush.
type lotUpdates []dbgen.UpdateInvestmentQuantityParams

func (l *lotUpdates) add(lot domain.InvestmentState) {
	*l = append(*l, dbgen.UpdateInvestmentQuantityParams{ID: lot.ID, Quantity: lot.Quantity})
}

func (l lotUpdates) calls(ctx context.Context, calls []call, bulk int) []call {
	switch {
	case len(l) == 0:
		return calls
	case len(l) <= bulk:
		for _, p := range l {
			calls = append(calls, call{
				run:  func(q *dbgen.Queries) error { return q.UpdateInvestmentQuantity(ctx, p) },
				fail: failure{op: "update lot " + p.ID.String()}.fn(),
			})
		}
		return calls
	}
	arg := dbgen.UpdateInvestmentQuantitiesParams{
		Ids:        make([]uuid.UUID, len(l)),
		Quantities: make([]decimal.Decimal, len(l)),
	}
	for i, p := range l {
		arg.Ids[i], arg.Quantities[i] = p.ID, p.Quantity
	}
	return append(calls, call{
		run:  func(q *dbgen.Queries) error { return q.UpdateInvestmentQuantities(ctx, arg) },
		fail: failure{op: fmt.Sprintf("update %d lots", len(l))}.fn(),
	})
}

// sortedIDs returns the keys of m in id order.
func sortedIDs[V any](m map[uuid.UUID]V) []uuid.UUID {
	return slices.SortedFunc(maps.Keys(m), compareIDs)
}

// sortedUnique returns the ids in id order without repeats, in a new slice.
func sortedUnique(ids []uuid.UUID) []uuid.UUID {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, compareIDs)
	return slices.Compact(ids)
}

// compareIDs orders uuids as PostgreSQL does, bytewise: the order in which
// every unit takes portfolio row locks.
func compareIDs(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }
