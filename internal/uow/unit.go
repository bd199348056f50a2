package uow

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/folio-dev/folio/internal/domain"
)

// Unit is one unit of work: a transaction, the aggregates loaded or added in
// it (one object per row: the identity map), and what they looked like in
// the database (the snapshots changes are computed against). A Unit is used
// by one goroutine, inside the fn given to Runner.Do or Runner.Read, and not
// after fn returns.
type Unit struct {
	cfg      *config
	s        *session
	readOnly bool
	now      time.Time

	portfolios map[uuid.UUID]*portfolioEntry
	securities map[uuid.UUID]*securityEntry
	symbols    map[string]*securityEntry
	quotes     []Quote // bulk price updates waiting for the next flush

	savepoints int // savepoints made so far, to name the next one

	// nested counts the nested units running. While one does, the
	// aggregates loaded are also kept as loaded in bornP and bornS, so
	// that a nested unit that fails can put them back (see restore).
	nested int
	bornP  []portfolioEntry
	bornS  []securityEntry
	// repriced: the symbols whose prices a flush in a nested unit wrote
	// by Revalue, on rows the unit did not track. A security loaded
	// after that flush was read with a price that a failed nested unit
	// rolls back (see restore).
	repriced []string

	// ended: fn has returned (or panicked); the unit refuses to be used.
	ended bool
	// refused is a change the unit cannot make (see Portfolios.Add),
	// returned by the next flush.
	refused error
}

// ErrUnitEnded is returned when a unit is used after the fn it was given
// to has returned: its transaction is over, and a change made through it
// would be lost.
var ErrUnitEnded = errors.New("uow: the unit was used after its fn returned")

// open returns ErrUnitEnded once fn has returned.
func (u *Unit) open() error {
	if u.ended {
		return ErrUnitEnded
	}
	return nil
}

// usable is open, and once a statement has aborted the unit's transaction
// it returns that statement's error: nothing the unit does after it can be
// saved, whether or not it would send anything (an identity-map hit sends
// nothing, and would otherwise hand fn objects of a dead transaction). A
// Read unit without WithSnapshot never gets here: its failed round trip
// ended only that round trip's transaction.
func (u *Unit) usable() error {
	if err := u.open(); err != nil {
		return err
	}
	if u.s.failed != nil {
		return u.s.abortedErr()
	}
	return nil
}

// mustBeOpen is open for the methods that return no error: a change made
// through a unit that has ended would be lost without a word.
func (u *Unit) mustBeOpen(method string) {
	if u.ended {
		panic(fmt.Sprintf("%v (%s)", ErrUnitEnded, method))
	}
}

// refuse keeps the first change the unit cannot make, for the next flush.
func (u *Unit) refuse(err error) {
	if u.refused == nil {
		u.refused = err
	}
}

type entryState uint8

const (
	// stateNew: added in this unit, not inserted yet.
	stateNew entryState = iota
	// statePersistent: in the database as snap says.
	statePersistent
	// stateRemoved: in the database, to be deleted at the next flush.
	stateRemoved
)

// An entry's changes is the object's Changes() when snap was taken: while
// they are equal the object cannot differ from its snapshot, and a flush
// skips it without comparing.
type portfolioEntry struct {
	p       *domain.Portfolio
	snap    domain.PortfolioState // the row and its lots as stored; unset while stateNew
	state   entryState
	changes uint64
	// locked: the unit holds the row lock (ForUpdate) since snap was taken.
	locked bool
}

type securityEntry struct {
	s       *domain.Security
	snap    domain.SecurityState
	state   entryState
	changes uint64
}

// symbolRank orders the entries that may share a symbol by which one the
// symbol finds: a live one before a removed one, and a new object before a
// stored security loaded while it held the symbol (see trackSecurities),
// whose insert will fail.
func symbolRank(s entryState) int {
	switch s {
	case stateNew:
		return 2
	case statePersistent:
		return 1
	}
	return 0
}

func newUnit(r *Runner, cfg *config, readOnly bool, tr *sink) *Unit {
	iso := cfg.isolation
	if readOnly && cfg.snapshot && r.src.snapshotPerStatement(iso) {
		// WithSnapshot promises one snapshot for the whole unit, which
		// READ COMMITTED does not give. A read-only transaction at
		// REPEATABLE READ never fails to serialize.
		iso = pgx.RepeatableRead
	}
	return &Unit{
		cfg:      cfg,
		readOnly: readOnly,
		now:      cfg.clock(),
		s: &session{
			src:      r.src,
			sink:     tr,
			beginSQL: r.src.begin(readOnly, iso),
			perTrip:  readOnly && !cfg.snapshot,

			snapshotPerStatement: r.src.snapshotPerStatement(iso),
		},
		portfolios: make(map[uuid.UUID]*portfolioEntry),
		securities: make(map[uuid.UUID]*securityEntry),
		symbols:    make(map[string]*securityEntry),
	}
}

// Now returns the unit's clock reading, taken when the unit began: every
// default date in one unit comes from the same instant.
func (u *Unit) Now() time.Time { return u.now }

// Stats returns what the unit has sent so far, over all attempts of the
// enclosing Do or Read.
func (u *Unit) Stats() Stats { return u.s.sink.stats }

// Portfolios returns the unit's repository of portfolios.
func (u *Unit) Portfolios() Portfolios { return Portfolios{u} }

// Securities returns the unit's repository of securities.
func (u *Unit) Securities() Securities { return Securities{u} }

// Flush writes the changes made so far, in one round trip, without
// committing: later queries in the unit see them, and a later failure of the
// unit still rolls them back. Queries never flush on their own (like a
// SQLAlchemy session with autoflush off); the commit at the end of Do
// always does.
//
// A statement that fails in the database, in a Flush or a query, aborts
// the unit's transaction (outside a nested unit, which rolls back to its
// savepoint). The unit then sends nothing more: every later call that
// returns an error (queries, even those the identity map would answer,
// Remove, Revalue, Flush, a nested Do) and the commit return that first
// error, wrapped, so return it from fn. (Not so a Read unit without
// WithSnapshot: each of its round trips is a transaction of its own, and
// the next one begins afresh.) Like SQLAlchemy's session after a failed
// flush, which wants a rollback before anything else, except that here
// the runner does that, and retries when the error is one it retries.
//
// In a Read unit, Flush returns ErrReadOnly if an aggregate changed, and
// nil otherwise; fn may go on.
func (u *Unit) Flush(ctx context.Context) error {
	// Even with nothing to write, a failed statement comes first: the
	// unit cannot commit, and the runner retries by that error.
	if err := u.usable(); err != nil {
		return err
	}
	if u.refused != nil {
		return u.refused
	}
	if u.readOnly {
		if u.dirty() {
			return ErrReadOnly
		}
		return nil
	}
	calls, done := u.plan(ctx)
	if len(calls) == 0 {
		return nil
	}
	if err := u.s.writeTrip(ctx, calls); err != nil {
		return err
	}
	done()
	return nil
}

func (u *Unit) commit(ctx context.Context) error {
	if u.s.failed != nil {
		// Before a refused change: the first error decides the retry.
		err := u.s.abortedErr()
		u.s.close(ctx)
		return err
	}
	if u.refused != nil {
		u.s.close(ctx)
		return u.refused
	}
	if u.readOnly {
		if u.dirty() {
			u.s.close(ctx)
			return ErrReadOnly
		}
		return u.s.commit(ctx, nil)
	}
	calls, done := u.plan(ctx)
	if err := u.s.commit(ctx, calls); err != nil {
		return err
	}
	done()
	return nil
}

func (u *Unit) dirty() bool {
	calls, _ := u.plan(context.Background())
	return len(calls) > 0
}

// Do runs fn as a nested unit of work: changes made so far are flushed, a
// SAVEPOINT is set, and fn runs with this same unit (same identity map). (A
// Read unit without WithSnapshot has no transaction to set one in: it
// sends nothing, and only the objects are put back when fn fails.)
// When fn returns nil its changes are flushed and the savepoint released.
// When fn fails, the database goes back to the savepoint and every aggregate
// the unit tracked before goes back to what it was then; aggregates first
// loaded inside fn go back to what they were when loaded, and stay tracked
// (the same objects: changes made to them afterwards are saved); those
// added inside fn are forgotten. A ctx that has ended fails Do before fn
// runs. The error is returned, and the
// enclosing unit can go on. Nested units are not retried on their own. A
// statement that fails inside fn fails the nested unit even if fn returns
// nil: Do then returns that statement's error.
//
// The flush before the savepoint writes the enclosing unit's changes; when
// it fails, Do returns its error (prefixed "uow: flush before savepoint")
// without running fn, and the enclosing unit's transaction is aborted, as
// after a failed Flush.
//
// Without changes to flush, the SAVEPOINT rides with fn's first round
// trip, which saves one. pgx prepares the statements a connection has not
// run before in a step of its own, ahead of every statement of the round
// trip, SAVEPOINT included. Should that step fail (a statement that waits
// for a lock, say behind a migration's, until the nested unit's own
// context ends), the savepoint was never set, and the failure aborted the
// enclosing unit's transaction: Do's error then says that the enclosing
// unit cannot go on, and its later queries and commit fail with the first
// error. Nothing of it is saved.
func (u *Unit) Do(ctx context.Context, fn func(context.Context, *Unit) error) (err error) {
	if err := u.usable(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		// As Runner.Do: fn does no work for a context that has ended.
		return err
	}
	u.nested++
	defer func() {
		if u.nested--; u.nested == 0 {
			u.bornP, u.bornS, u.repriced = nil, nil, nil
		}
	}()
	if u.s.perTrip {
		// Nothing is written and no transaction outlives a round trip:
		// only the objects need putting back on failure.
		m := u.mark()
		defer func() {
			if p := recover(); p != nil {
				u.restore(m)
				panic(p)
			}
		}()
		err := fn(ctx, u)
		if err == nil && u.refused != nil && m.refused == nil {
			err = u.refused // a change fn made that the unit cannot
		}
		if err != nil {
			u.restore(m)
			return err
		}
		return nil
	}
	u.savepoints++
	name := fmt.Sprintf("folio_sp_%d", u.savepoints)
	sp := &savepoint{name: name}
	setSQL := control{sql: "savepoint " + name, done: func() { sp.set = true }}

	// Flush what the enclosing unit changed, so the savepoint marks the
	// state the tracked aggregates are in now. Without changes, the
	// savepoint waits to ride with the first round trip fn makes.
	if !u.readOnly {
		if calls, done := u.plan(ctx); len(calls) > 0 {
			if err := u.s.writeTrip(ctx, calls, setSQL); err != nil {
				// Not fn's failure: the enclosing unit's, whose
				// transaction it aborted (see session.failed).
				return fmt.Errorf("uow: flush before savepoint: %w", err)
			}
			done()
		} else {
			u.s.queued = append(u.s.queued, setSQL)
		}
	} else {
		u.s.queued = append(u.s.queued, setSQL)
	}
	sp.wrote = u.s.wrote
	m := u.mark()

	defer func() {
		if p := recover(); p != nil {
			_ = u.rollbackTo(ctx, sp, m)
			panic(p)
		}
	}()
	err = fn(ctx, u)
	if err == nil && u.s.failed != nil {
		// fn swallowed the error of a statement that aborted the
		// transaction: the nested unit failed all the same, and rolling
		// back to its savepoint is what lets the enclosing unit go on.
		err = fmt.Errorf("uow: nested unit returned nil after a failed statement: %w", u.s.failed)
	}
	if err == nil && u.refused != nil && m.refused == nil {
		err = u.refused // a change fn made that the unit cannot
	}
	if err != nil {
		if rerr := u.rollbackTo(ctx, sp, m); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	release := control{sql: "release savepoint " + name}
	calls, done := u.plan(ctx)
	if u.readOnly {
		calls = nil
	}
	switch {
	case len(calls) > 0:
		if err := u.s.writeTrip(ctx, calls, release); err != nil {
			if rerr := u.rollbackTo(ctx, sp, m); rerr != nil {
				return errors.Join(err, rerr)
			}
			return err
		}
		done()
	case sp.set:
		// Nothing to write: the release can wait for the next round trip.
		u.s.queued = append(u.s.queued, release)
	default:
		u.s.dequeue(setSQL.sql)
	}
	return nil
}

// errNoSavepoint is a nested unit that failed before its savepoint was
// set, in a way that aborted the enclosing unit's transaction.
var errNoSavepoint = errors.New("uow: the nested unit failed before its savepoint was set, and its failure aborted the enclosing unit's transaction, which cannot go on")

type savepoint struct {
	name string
	set  bool // executed by the server
	// wrote: whether the transaction had been sent writes when the
	// savepoint was set. Rolling back to it undoes every later one.
	wrote bool
}

// rollbackTo undoes a failed nested unit: in memory by restoring the mark,
// in the database by rolling back to the savepoint. That statement can
// usually wait for the unit's next round trip; but when a statement failed,
// the transaction is aborted and the server refuses to even prepare the
// statements of a pipeline until it is rolled back, so then it goes at once,
// even if ctx is done: the nested unit's context may have run out (that
// may be why it failed), and the enclosing unit must be able to go on.
//
// Whatever is still queued when a set savepoint is rolled back to was
// queued inside the nested unit, about savepoints within it, which the
// rollback destroys: it is dropped, as those statements would fail.
func (u *Unit) rollbackTo(ctx context.Context, sp *savepoint, m mark) error {
	u.restore(m)
	if !sp.set {
		u.s.dequeue("savepoint " + sp.name)
		if u.s.aborted() {
			// The round trip that carried the SAVEPOINT failed before
			// running it (in pgx's prepare step, see Do): there is
			// nothing to roll back to.
			return errNoSavepoint
		}
		return nil
	}
	rollback := "rollback to savepoint " + sp.name
	release := control{sql: "release savepoint " + sp.name}
	u.s.queued = nil
	// Whether it runs now or rides ahead of the next round trip's
	// statements (a COMMIT included), the rollback undoes what the nested
	// unit wrote: a COMMIT whose answer is then lost saves no more than
	// the enclosing unit had written before it (session.wrote).
	u.s.wrote = sp.wrote
	if u.s.aborted() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		if err := u.s.exec(rctx, rollback); err != nil {
			return err
		}
		u.s.failed = nil // the failure is undone; the transaction goes on
		u.s.queued = append(u.s.queued, release)
		return nil
	}
	u.s.queued = append(u.s.queued, control{sql: rollback}, release)
	return nil
}

func (s *session) dequeue(sql string) {
	for i, c := range s.queued {
		if c.sql == sql {
			s.queued = append(s.queued[:i], s.queued[i+1:]...)
			return
		}
	}
}

// mark is the in-memory side of a savepoint: which aggregates the unit
// tracked and in which state. After the flush that precedes a savepoint,
// every tracked aggregate of a Do unit equals its snapshot, so the
// snapshots are all it takes to put the objects back. A Read unit never
// flushes: what an aggregate looked like at the mark, when it differs from
// the snapshot, is kept in changed; and what it added, still drafts, is
// copied whole (draftP, draftS).
type mark struct {
	portfolios map[uuid.UUID]portfolioEntry
	securities map[uuid.UUID]securityEntry
	changedP   map[uuid.UUID]domain.PortfolioState
	changedS   map[uuid.UUID]domain.SecurityState
	// draftP and draftS: copies of the aggregates added and not yet
	// inserted, which only a Read unit (it never flushes) has at a mark.
	draftP  map[uuid.UUID]*domain.Portfolio
	draftS  map[uuid.UUID]*domain.Security
	quotes  []Quote
	refused error
	// bornP, bornS and repriced: how many aggregates the unit had loaded
	// and symbols it had repriced in nested units when the mark was taken
	// (Unit.bornP, bornS, repriced).
	bornP, bornS, repriced int
}

func (u *Unit) mark() mark {
	m := mark{
		portfolios: make(map[uuid.UUID]portfolioEntry, len(u.portfolios)),
		securities: make(map[uuid.UUID]securityEntry, len(u.securities)),
		quotes:     slices.Clone(u.quotes),
		refused:    u.refused,
		bornP:      len(u.bornP),
		bornS:      len(u.bornS),
		repriced:   len(u.repriced),
	}
	for id, e := range u.portfolios {
		m.portfolios[id] = *e
		if e.state == stateNew {
			if m.draftP == nil {
				m.draftP = make(map[uuid.UUID]*domain.Portfolio)
			}
			m.draftP[id] = e.p.Clone()
		} else if e.p.Changes() != e.changes {
			if m.changedP == nil {
				m.changedP = make(map[uuid.UUID]domain.PortfolioState)
			}
			m.changedP[id] = e.p.State()
		}
	}
	for id, e := range u.securities {
		m.securities[id] = *e
		if e.state == stateNew {
			if m.draftS == nil {
				m.draftS = make(map[uuid.UUID]*domain.Security)
			}
			m.draftS[id] = e.s.Clone()
		} else if e.s.Changes() != e.changes {
			if m.changedS == nil {
				m.changedS = make(map[uuid.UUID]domain.SecurityState)
			}
			m.changedS[id] = e.s.State()
		}
	}
	return m
}

func (u *Unit) restore(m mark) {
	maps.DeleteFunc(u.portfolios, func(id uuid.UUID, _ *portfolioEntry) bool {
		_, ok := m.portfolios[id]
		return !ok
	})
	for id, saved := range m.portfolios {
		e := u.portfolios[id]
		if e == nil {
			e = &portfolioEntry{}
			u.portfolios[id] = e
		}
		*e = saved
		if saved.state == stateNew {
			*saved.p = *m.draftP[id].Clone()
		} else {
			cur, changed := m.changedP[id]
			if !changed {
				cur = saved.snap
			}
			resetPortfolio(saved.p, cur)
			e.changes = unchangedSince(saved.p.Changes(), changed)
		}
	}
	maps.DeleteFunc(u.securities, func(id uuid.UUID, _ *securityEntry) bool {
		_, ok := m.securities[id]
		return !ok
	})
	clear(u.symbols)
	for id, saved := range m.securities {
		e := u.securities[id]
		if e == nil {
			e = &securityEntry{}
			u.securities[id] = e
		}
		*e = saved
		if saved.state == stateNew {
			*saved.s = *m.draftS[id].Clone()
		} else {
			cur, changed := m.changedS[id]
			if !changed {
				cur = saved.snap
			}
			resetSecurity(saved.s, cur)
			e.changes = unchangedSince(saved.s.Changes(), changed)
		}
		if o, ok := u.symbols[saved.s.Symbol()]; !ok || symbolRank(o.state) < symbolRank(saved.state) {
			u.symbols[saved.s.Symbol()] = e
		}
	}
	// What the failed nested unit loaded stays, as it was loaded: rolling
	// back to the savepoint left those rows as they were read (or, if the
	// nested unit flushed them, put them back), and the caller may still
	// hold the objects. Forgetting them would drop, without a word, the
	// changes made to them later. Row locks taken since the savepoint
	// went with it.
	//
	// Not so a security read after the nested unit's flush wrote its
	// price by Revalue: the rollback put back a price the unit never
	// read. It is forgotten, so that the next load reads the row as it
	// is. (Quotes queued before the mark were flushed before the
	// SAVEPOINT, and the rollback keeps them.)
	stale := make(map[string]bool, len(u.repriced)-m.repriced)
	for _, sym := range u.repriced[m.repriced:] {
		stale[sym] = true
	}
	u.repriced = u.repriced[:m.repriced]
	for _, b := range u.bornP[m.bornP:] {
		if _, ok := m.portfolios[b.p.ID()]; ok {
			continue
		}
		resetPortfolio(b.p, b.snap)
		u.portfolios[b.p.ID()] = &portfolioEntry{p: b.p, snap: b.snap, state: statePersistent, changes: b.p.Changes()}
	}
	// A forgotten security leaves bornS too: a unit around this one that
	// fails later must not bring it back. (Its symbol is no longer in
	// repriced to say it is stale, and the unit may have read the row
	// again since, as a second object.)
	kept := u.bornS[:m.bornS]
	for _, b := range u.bornS[m.bornS:] {
		_, tracked := m.securities[b.s.ID()]
		if !tracked && stale[b.snap.Symbol] {
			continue
		}
		kept = append(kept, b)
		if tracked {
			continue
		}
		resetSecurity(b.s, b.snap)
		e := &securityEntry{s: b.s, snap: b.snap, state: statePersistent, changes: b.s.Changes()}
		u.securities[b.s.ID()] = e
		if o, ok := u.symbols[b.snap.Symbol]; !ok || o.state == stateRemoved {
			u.symbols[b.snap.Symbol] = e
		}
	}
	clear(u.bornS[len(kept):])
	u.bornS = kept
	u.quotes = m.quotes
	u.refused = m.refused
}

// unchangedSince is the entry's changes for an object whose Changes() is
// now: equal when the object is as its snapshot, different when it is
// changed, so that plan compares it with the snapshot.
func unchangedSince(now uint64, changed bool) uint64 {
	if changed {
		return now - 1
	}
	return now
}

// resetPortfolio puts p back to the stored state st, in place, so that
// every holder of the pointer sees it. One that is as st is left alone:
// a walk of its Lots, around a nested unit that failed without changing
// it, goes on.
func resetPortfolio(p *domain.Portfolio, st domain.PortfolioState) {
	if err := p.Reset(st); err != nil {
		// st came from State or from a row RestorePortfolio accepted.
		panic(fmt.Sprintf("uow: restore snapshot of portfolio %s: %v", st.ID, err))
	}
}

func resetSecurity(s *domain.Security, st domain.SecurityState) {
	fresh, err := domain.RestoreSecurity(st)
	if err != nil {
		panic(fmt.Sprintf("uow: restore snapshot of security %s: %v", st.ID, err))
	}
	*s = *fresh
}
