// Package uow is folio's unit of work: it loads aggregates (a portfolio with
// its lots, a security) from the rows sqlc's generated queries return,
// remembers what they looked like, and saves what changed in one
// transaction, in as few round trips as the PostgreSQL protocol allows.
//
// # For a SQLAlchemy user
//
// What you know from a SQLAlchemy Session maps like this:
//
//	SQLAlchemy                             uow
//	-------------------------------------  ------------------------------------------------
//	sessionmaker(engine)                   NewRunner(pool)
//	with Session.begin() as s: ...         runner.Do(ctx, func(ctx, u *Unit) error { ... })
//	commit on success, rollback on error   the same; a panic also rolls back and goes on
//	session.get(Portfolio, id)             u.Portfolios().Get(ctx, id)
//	identity map                           the same: one object per row per unit, and a
//	                                       second Get by id sends nothing
//	session.add(p) / session.delete(p)     u.Portfolios().Add(p) / Remove(p)
//	relationship(cascade="all,             a portfolio's lots are part of it: saved,
//	  delete-orphan")                      deleted and orphan-deleted with it
//	selectinload(Portfolio.investments)    always: lots come with their portfolios, all
//	                                       of them in one "= ANY($1)" statement (up
//	                                       to four portfolios: one per id, which
//	                                       PostgreSQL plans once)
//	selectinload(... .security)            WithSecurities(); WithSecuritiesBySymbol(syms...)
//	                                       for securities the portfolio does not hold yet
//	version_id_col                         the portfolio's version column, checked and
//	                                       bumped by every flush that touches the
//	                                       portfolio or its lots (SQLAlchemy bumps it
//	                                       only when the parent row is updated)
//	query(...).with_for_update(            GetMany(ctx, ids, ForUpdate()): the rows locked
//	  key_share=True)                      in the load's round trip, in id order
//	autoflush=False, session.flush()       the same: queries never flush; u.Flush does,
//	                                       and the commit always does
//	session.begin_nested()                 u.Do(ctx, fn): a SAVEPOINT (in a Read unit
//	                                       without WithSnapshot, nothing is sent: only
//	                                       the objects are put back on failure)
//	PendingRollbackError after a failed    the same idea: after a statement fails, the
//	  flush                                unit sends nothing more, and every query,
//	                                       Flush and the commit return the first error
//	                                       (a Read unit without WithSnapshot, whose
//	                                       round trips are transactions of their own,
//	                                       goes on)
//	query(...).update() (bulk)             u.Securities().Revalue(quotes), sent with the
//	                                       next flush rather than at once
//	echo=True                              WithLogger at debug level: every statement
//	                                       with its duration, every unit with its
//	                                       statement and round-trip counts
//
// # What is deliberately different
//
//   - Explicit over implicit. There is no lazy loading: touching a lot that
//     was not loaded cannot send a query behind your back, because the lots
//     are always loaded with their portfolio and everything else is loaded by
//     a repository call you can see. Nothing is "expired" after commit: a
//     unit ends with its transaction, and its objects are not used after.
//   - Aggregates, not tables. You load and save portfolios (with their lots)
//     and securities; there is no session.query over arbitrary mapped
//     classes. The SQL lives in sql/queries, where sqlc checks it.
//   - Domain objects guard themselves. Changes go through methods of the
//     domain types, which refuse invalid ones; the unit finds what changed
//     by comparing each aggregate with the snapshot taken when it was
//     loaded, not by instrumenting attribute access.
//   - Retries are built in. Do reruns fn, in a new transaction with a new
//     unit, on serialization failures, deadlocks, version conflicts and a
//     session the server ended before COMMIT (a restart, a failover; for a
//     unit that wrote nothing, or in a round trip without COMMIT, any
//     connection lost under it). fn must be
//     safe to run again: do side effects after Do returns.
//   - One snapshot per transaction. Units run at REPEATABLE READ by default,
//     so the two statements that load an aggregate (the portfolio row and
//     its lots) see the same commit; READ COMMITTED is an option. A Read
//     unit's round trips are separate transactions unless WithSnapshot.
//   - Savepoints are lazy. begin_nested() sends SAVEPOINT at once; Unit.Do
//     lets it ride with the nested unit's first round trip (or the flush
//     before it), which saves one. The price: should pgx's prepare step of
//     that round trip fail, before the SAVEPOINT runs, the enclosing unit
//     cannot go on either (Unit.Do says when, and says so).
//   - Optimistic by default. Two units that change one portfolio both run,
//     and the second to save conflicts and is rerun. For aggregates many
//     units change at once, ForUpdate with READ COMMITTED makes them queue
//     on the row locks instead, with no reruns, when each unit locks all it
//     will change in one call, first (see ForUpdate).
//
// # Rules of use
//
//   - A unit lives as long as its fn. Kept past it, every method that loads,
//     changes or saves returns ErrUnitEnded (Add, which returns nothing,
//     panics): its transaction is
//     over, and what was done through it would be lost. Its objects keep
//     their last state, but the unit no longer saves them; load them again
//     in a new unit. The same goes for objects of an attempt that was
//     retried. A nested unit that fails puts what it changed back: the
//     objects the unit had before it to what they were then, those it
//     loaded to what they were when loaded (they stay tracked, and what is
//     changed on them afterwards is saved, as SQLAlchemy keeps them in the
//     session), and those it added are forgotten; an object already as it
//     should be is left alone (a walk of its Lots goes on). So are the securities it
//     loaded after its flush wrote their prices by Revalue: the rollback
//     put back a price the unit never read, so the next load reads them
//     again, as new objects; the unit no longer saves the old ones.
//   - One object per row. Adding a second object for a row the unit has
//     (a copy loaded in another unit, say) fails the flush with
//     domain.ErrAlreadyExists rather than dropping its changes; so does a
//     second security with the symbol of one the unit has. Adding an
//     object removed in this unit undoes the removal, and a removed
//     security's symbol is free for a new one in the same flush.
//   - Queries read the database, not the unit's pending changes (autoflush
//     is off): List and GetByName filter and order by the names as stored.
//     In a unit that renamed portfolios, Flush before paging with List, or
//     the last name of a page may not be where the next one starts. Get by
//     id answers from the identity map first: an object added and not yet
//     flushed is found (SQLAlchemy's session.get does not find a pending
//     one), and one removed is not.
//   - A security loaded after a Revalue that names it carries the queued
//     price; what it is set to later is what is stored. One added after
//     such a Revalue is inserted as it is: the later call wins.
//   - Names move freely within a flush: a rename or Add may take the name
//     another portfolio of the same flush gives up, by a rename (two may
//     swap names) or by its removal. Only the names as they stand after the
//     flush must be unique (domain.ErrAlreadyExists otherwise). A nested Do
//     flushes before its savepoint, so a swap must not straddle one. The
//     check after the flush's renames may wait for another unit renaming
//     onto one of the names; two units that swap overlapping names can thus
//     deadlock, which PostgreSQL breaks after deadlock_timeout (1 s by
//     default) and the runner retries.
//   - Conflicts surface as one of two sentinels. At REPEATABLE READ (the
//     default) the server usually sees a concurrent change first: a
//     serialization failure, ErrSerialization. At READ COMMITTED the version
//     check sees it: domain.ErrVersionConflict. Both are retried; when the
//     attempts run out, test for both (as the command and the HTTP API do,
//     to answer "conflict").
//   - A nil object or fn is a programming error and panics, as a nil map
//     would.
//
// # Round trips
//
// A round trip costs far more than a statement, so the unit pipelines.
// Generated query functions expect an answer before they return; the unit
// runs each of them twice, once to capture its SQL and arguments and once,
// after the whole batch went out as one pgx.Batch, to scan its result (see
// session.go). Hence:
//
//   - BEGIN rides with the first read, and loading N portfolios is one round
//     trip: the roots and all their lots (and their securities, if asked).
//     (List, and GetByName without ForUpdate, take two at READ COMMITTED:
//     see Portfolios.List.)
//     In a Read unit COMMIT rides along too, each round trip being a READ
//     ONLY transaction of its own: a read costs one round trip.
//   - A flush is one round trip whatever it writes, and the final flush
//     carries COMMIT. A read-modify-write unit costs 2 round trips.
//   - Lot inserts, lot quantity changes, price changes of loaded securities
//     and (in a flush without renames or deletes) version bumps become one
//     statement over arrays (unnest) above a threshold (WithBulkThreshold),
//     which still rides in the pipeline. Removed lots are always one
//     statement; other writes are one statement per row.
//
// Because COMMIT travels behind the writes, a write cannot inspect a row
// count before COMMIT runs. Writes to existing rows therefore check their
// own counts in SQL (folio_assert, SQLSTATE FOL01) and abort the transaction
// when they are wrong; the unit reports a version conflict (or
// domain.ErrNotFound, for a Revalue of an unknown symbol or a security
// deleted by another unit). If the
// connection fails while COMMIT is in flight, the server answers COMMIT
// by ending the session, or PgBouncer reports the server connection lost
// anywhere in the round trip that carries COMMIT (the server may have run
// all of it before its answers went out), the outcome is unknown: the error wraps
// ErrCommitUnknown and the unit is not retried. (Unless the unit wrote
// nothing, or nothing that a failed nested unit's rollback did not undo:
// then there is nothing to lose or to save twice, and it is retried like
// any unit whose session ended.)
//
// Every unit's statements and round trips are counted by a pgx tracer that
// ConfigurePool installs; WithReport hands them to the caller, and package
// uowtest turns them into assertions. pgx prepares a statement the first
// time a connection sees it, one extra round trip the tracer does not see:
// the counts are those of the steady state.
//
// # Isolation from the generated code
//
// Only this package imports internal/dbgen, and it never returns a dbgen
// type: rows become domain values through the converters in convert.go.
// Errors of the flush's statements become domain sentinels
// (domain.ErrAlreadyExists, domain.ErrVersionConflict, domain.ErrInUse, ...)
// wrapped in *Error, from which errors.As still recovers the
// *pgconn.PgError. Errors of loads keep the server's error as it is, with
// ErrSerialization or ErrSessionEnded attached where they apply.
package uow
