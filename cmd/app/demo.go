package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/pglocal"
	"github.com/folio-dev/folio/internal/tracker"
	"github.com/folio-dev/folio/internal/uow"
)

// demo runs folio end to end on a database that exists only for the demo.
// With --json it prints the two reports as a JSON array, and says what it
// does on stderr instead.
func demo(e *env, _ []string) error {
	url, err := e.connString()
	if err != nil {
		return err
	}
	var (
		cfg     *pgxpool.Config
		cleanup func()
	)
	if url == "" {
		cfg, cleanup, err = e.throwawayServer()
	} else {
		cfg, cleanup, err = e.scratchDatabase(url)
	}
	if err != nil {
		return err
	}
	defer cleanup()

	pool, err := e.openPoolConfig(cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := migrateUp(e.ctx, pool); err != nil {
		return err
	}
	e.say("Migrated the schema.\n")
	r, err := uow.NewRunner(pool, uow.WithLogger(e.logger))
	if err != nil {
		return err
	}
	e.svc = tracker.New(r)
	if err := demoData(e); err != nil {
		return err
	}
	var reports []tracker.ReportView
	for _, name := range []string{"Retirement", "Growth"} {
		v, err := e.svc.Report(e.ctx, tracker.ByName(name))
		if err != nil {
			return err
		}
		reports = append(reports, v)
	}
	if e.g.json {
		return printJSON(e.stdout, reports)
	}
	for _, v := range reports {
		fmt.Fprintln(e.stdout)
		writeReport(e.stdout, v)
	}
	fmt.Fprintln(e.stdout)
	return nil
}

// say tells what the demo does: on stdout, or on stderr when stdout is for
// JSON.
func (e *env) say(format string, a ...any) {
	w := e.stdout
	if e.g.json {
		w = e.stderr
	}
	fmt.Fprintf(w, format, a...)
}

// demoDirPrefix names the demo's throwaway clusters in the temporary
// directory.
const demoDirPrefix = "folio-demo-"

// removeStaleDemos removes the clusters of demos killed before they could
// remove them (SIGKILL, a crash): their servers stopped with them. One
// whose server runs, that a Start holds, or that changed in the last
// minute stays.
func removeStaleDemos(logger *slog.Logger) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), demoDirPrefix+"*"))
	for _, d := range dirs {
		d = strings.TrimSuffix(d, ".lock") // alone: what a failed Start leaves
		if removed, err := pglocal.RemoveStale(d, time.Minute); removed || err != nil {
			logger.Debug("removed the cluster of an earlier demo", "dir", d, "error", err)
		}
	}
}

// throwawayServer starts an ephemeral PostgreSQL in a temporary directory.
func (e *env) throwawayServer() (*pgxpool.Config, func(), error) {
	removeStaleDemos(e.logger)
	dir, err := os.MkdirTemp("", demoDirPrefix)
	if err != nil {
		return nil, nil, err
	}
	srv, err := pglocal.Start(e.ctx, pglocal.Options{DataDir: dir, Ephemeral: true, Logger: e.logger})
	if err != nil {
		// Stop would have removed both; a failed Start leaves them.
		_ = os.RemoveAll(dir)
		_ = os.Remove(dir + ".lock")
		return nil, nil, err
	}
	cfg, err := pgxpool.ParseConfig(srv.URL("postgres"))
	if err != nil {
		return nil, nil, err
	}
	e.say("Started a throwaway PostgreSQL in %s.\n", dir)
	return cfg, func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 30*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			fmt.Fprintf(e.stderr, "folio: stop the throwaway PostgreSQL: %v\n", err)
			return
		}
		_ = os.RemoveAll(dir)
		e.say("Stopped the throwaway PostgreSQL and removed its data.\n")
	}, nil
}

// scratchDatabase creates a database on the server url names, dropped
// afterwards, so that the demo touches nothing of the user's.
func (e *env) scratchDatabase(url string) (*pgxpool.Config, func(), error) {
	cfg, err := parseConfig(url)
	if err != nil {
		return nil, nil, err
	}
	admin, err := pgx.ConnectConfig(e.ctx, cfg.ConnConfig.Copy())
	if err != nil {
		c := cfg.ConnConfig
		return nil, nil, &connectError{host: c.Host, port: c.Port, database: c.Database, user: c.User, err: err}
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "folio_demo_" + hex.EncodeToString(b)
	if _, err := admin.Exec(e.ctx, "create database "+pgx.Identifier{name}.Sanitize()); err != nil {
		_ = admin.Close(e.ctx)
		var pgErr *pgconn.PgError
		if e.ctx.Err() != nil && !errors.As(err, &pgErr) {
			// Interrupted before the server answered: it may have created
			// the database after the client gave up. Drop it if it is
			// there. (An answer, such as "already exists", says that this
			// demo made nothing, and the name may be another's.)
			ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 10*time.Second)
			defer cancel()
			c, cerr := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
			if cerr == nil {
				cerr = dropAfterCreate(ctx, c, name)
				_ = c.Close(ctx)
			}
			if cerr != nil {
				fmt.Fprintf(e.stderr, "folio: the scratch database %s may be left on the server: %v\n", name, cerr)
			}
		}
		return nil, nil, fmt.Errorf("create a scratch database for the demo (the user needs CREATEDB): %w", err)
	}
	e.say("Created the scratch database %s.\n", name)
	cfg.ConnConfig.Database = name
	return cfg, func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "drop database "+pgx.Identifier{name}.Sanitize()+" with (force)"); err != nil {
			fmt.Fprintf(e.stderr, "folio: drop the scratch database %s: %v\n", name, err)
		} else {
			e.say("Dropped the scratch database %s.\n", name)
		}
		_ = admin.Close(ctx)
	}, nil
}

// demoData adds securities, prices, two portfolios and their trades.
func demoData(e *env) error {
	ctx := e.ctx
	securities := []struct{ symbol, name, price string }{
		{"AAPL", "Apple Inc.", "189.95"},
		{"MSFT", "Microsoft Corp.", "415.10"},
		{"NVDA", "NVIDIA Corp.", "123.54"},
		{"VTI", "Vanguard Total Stock Market ETF", "262.40"},
		{"BND", "Vanguard Total Bond Market ETF", "72.15"},
	}
	priced := mustDate("2024-06-28")
	for _, s := range securities {
		if _, err := e.svc.AddSecurity(ctx, s.symbol, s.name, "USD"); err != nil {
			return err
		}
		if _, err := e.svc.SetPrice(ctx, s.symbol, decimal.RequireFromString(s.price), priced); err != nil {
			return err
		}
	}
	e.say("Added %d securities with prices of %s.\n", len(securities), priced.Format(time.DateOnly))

	trades := map[string][]tracker.Trade{
		"Retirement": {
			{Side: tracker.Buy, Symbol: "VTI", Quantity: dq("40"), Price: dq("201.17"), Date: mustDate("2022-05-02")},
			{Side: tracker.Buy, Symbol: "BND", Quantity: dq("120"), Price: dq("74.60"), Date: mustDate("2022-05-02")},
			{Side: tracker.Buy, Symbol: "VTI", Quantity: dq("12.5"), Price: dq("218.40"), Date: mustDate("2023-05-01")},
			{Side: tracker.Sell, Symbol: "BND", Quantity: dq("20"), Price: dq("71.90"), Date: mustDate("2024-01-15")},
		},
		"Growth": {
			{Side: tracker.Buy, Symbol: "AAPL", Quantity: dq("10"), Price: dq("150.04"), Date: mustDate("2023-01-10")},
			{Side: tracker.Buy, Symbol: "NVDA", Quantity: dq("60"), Price: dq("19.56"), Date: mustDate("2023-02-01")},
			{Side: tracker.Buy, Symbol: "MSFT", Quantity: dq("8"), Price: dq("265.44"), Date: mustDate("2023-03-15")},
			{Side: tracker.Buy, Symbol: "AAPL", Quantity: dq("5"), Price: dq("177.30"), Date: mustDate("2023-06-01")},
			{Side: tracker.Sell, Symbol: "AAPL", Quantity: dq("12"), Price: dq("185.85"), Date: mustDate("2024-02-01")},
		},
	}
	for _, name := range []string{"Retirement", "Growth"} {
		if _, err := e.svc.CreatePortfolio(ctx, name, "USD"); err != nil {
			return err
		}
		res, err := e.svc.ImportTrades(ctx, tracker.ByName(name), trades[name], nil)
		if err != nil {
			return err
		}
		e.say("Portfolio %s: %s, %s (first in, first out), realized gain %s.\n",
			name, count(res.Buys, "buy", "buys"), count(res.Sells, "sell", "sells"), money(res.Realized))
	}
	return nil
}

func dq(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func mustDate(s string) time.Time {
	d, err := domain.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// dropAfterCreate drops database name once no other session is still
// running a statement that names it: the CREATE DATABASE an interrupted
// client sent may still be running, and would commit after a drop.
func dropAfterCreate(ctx context.Context, c *pgx.Conn, name string) error {
	for {
		// Looked at before the drop: a statement not running then is
		// over, or was never run.
		var busy bool
		if err := c.QueryRow(ctx, `select exists (select 1 from pg_stat_activity
			where pid <> pg_backend_pid() and state = 'active' and strpos(query, $1) > 0)`, name).Scan(&busy); err != nil {
			return err
		}
		if _, err := c.Exec(ctx, "drop database if exists "+pgx.Identifier{name}.Sanitize()+" with (force)"); err != nil {
			return err
		}
		if !busy {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
