package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/shopspring/decimal"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/tracker"
	"github.com/folio-dev/folio/internal/uow"
)

func commands() *command {
	return &command{
		name: "folio",
		help: "folio tracks investment portfolios on PostgreSQL.\n\n" +
			"It uses DATABASE_URL (or --database-url) when set; otherwise it starts a\n" +
			"PostgreSQL of its own from the server binaries on this machine, with its\n" +
			"data in ./.folio (or --data-dir, or $FOLIO_DATA_DIR).",
		sub: []*command{
			migrateCommand(),
			{name: "security", summary: "securities", sub: []*command{
				{name: "add", args: "SYMBOL", nargs: 1, needsDB: true, required: []string{"name"},
					summary: "add a security",
					help:    "SYMBOL is 1 to 12 of A-Z, 0-9, '.' and '-', beginning with a letter or digit (upper-cased).",
					flags: func(fs *flag.FlagSet) {
						fs.String("name", "", "the security's name (required)")
						fs.String("currency", "USD", "currency of its prices: three letters, as ISO 4217 codes are (the shape is checked, not the list)")
					},
					run: securityAdd},
				{name: "list", nargs: 0, needsDB: true, summary: "list securities with their last prices",
					flags: func(fs *flag.FlagSet) {
						fs.String("search", "", "only securities whose name or symbol contains this, ignoring case")
					},
					run: securityList},
			}},
			{name: "price", summary: "prices", sub: []*command{
				{name: "set", args: "SYMBOL PRICE", nargs: 2, needsDB: true,
					summary: "set a security's price",
					help:    "PRICE is a plain decimal (190.5), not negative. A security keeps its latest-dated price, so a price dated before the one it has is refused.",
					flags: func(fs *flag.FlagSet) {
						fs.String("date", "", "the day of the price, YYYY-MM-DD (default today in UTC)")
					},
					run: priceSet},
				{name: "import", args: "FILE.csv", nargs: 1, needsDB: true,
					summary: "import prices from CSV: symbol,date,price",
					help: "All rows or none: a bad row is reported by line and nothing is written.\n" +
						"A header line is optional; if there is one, it is symbol,date,price. Use - to\n" +
						"read standard input.",
					run: priceImport},
			}},
			{name: "portfolio", summary: "portfolios", sub: []*command{
				{name: "create", args: "NAME", nargs: 1, needsDB: true,
					summary: "create an empty portfolio",
					help:    "NAME is 1 to 100 characters, trimmed, and unique among portfolios (Growth and growth are two names).",
					flags: func(fs *flag.FlagSet) {
						fs.String("currency", "USD", "base currency: three letters, as ISO 4217 codes are (the shape is checked, not the list)")
					},
					run: portfolioCreate},
				{name: "list", nargs: 0, needsDB: true, summary: "list portfolios",
					flags: func(fs *flag.FlagSet) { fs.String("search", "", "only names containing this, ignoring case") },
					run:   portfolioList},
				{name: "show", args: "NAME", nargs: 1, needsDB: true, summary: "show a portfolio's lots", run: portfolioShow},
				{name: "rename", args: "NAME NEW_NAME", nargs: 2, needsDB: true, summary: "rename a portfolio", run: portfolioRename},
				{name: "delete", args: "NAME", nargs: 1, needsDB: true, summary: "delete a portfolio and its lots", run: portfolioDelete},
			}},
			tradeCommand("buy", "buy shares: adds a lot"),
			tradeCommand("sell", "sell shares, first in, first out"),
			{name: "trade", summary: "trades", sub: []*command{
				{name: "import", args: "PORTFOLIO FILE.csv", nargs: 2, needsDB: true,
					summary: "import trades from CSV: date,side,symbol,quantity,price",
					help: "All rows or none: a bad row is reported by line and nothing is written.\n" +
						"Trades are applied in date order, in file order within a day. A header line\n" +
						"is optional; if there is one, it is date,side,symbol,quantity,price. Use -\n" +
						"to read standard input.",
					run: tradeImport},
			}},
			{name: "report", args: "PORTFOLIO", nargs: 1, needsDB: true,
				summary: "holdings, cost basis, market value, unrealized gain and weights", run: report},
			{name: "demo", nargs: 0, summary: "a throwaway database with sample data and reports", run: demo,
				help: "Starts a throwaway PostgreSQL (or, with DATABASE_URL, a scratch database on that\n" +
					"server, dropped afterwards), migrates it, adds sample securities, prices, two\n" +
					"portfolios and trades, and prints their reports. Leaves nothing behind."},
			{name: "serve", nargs: 0, needsDB: true, long: true, summary: "serve the HTTP API",
				flags: func(fs *flag.FlagSet) {
					a := addrValue("127.0.0.1:8080")
					fs.Var(&a, "addr", "`host:port` to listen on")
				},
				prepare: listen, run: serve},
		},
	}
}

func tradeCommand(side, summary string) *command {
	help := "QUANTITY and --price are plain decimals (10, 0.5, 150.25), at most 18 digits before\n" +
		"the point and 10 after: QUANTITY greater than 0, the price not negative. The date\n" +
		"may not be in the future. "
	if side == "sell" {
		help += "A sale takes from the lots of SYMBOL held on its date, oldest\n" +
			"first, and selling more than they hold is refused; it prints the cost basis and\n" +
			"the realized gain."
	} else {
		help += "A buy adds a lot; SYMBOL's currency must be the\n" +
			"portfolio's, and a portfolio holds at most 10,000 lots."
	}
	help += "\n\nTrades are recorded in date order: one dated before the portfolio's latest sale\n" +
		"is refused (that sale took its shares first in, first out, and folio keeps the\n" +
		"lots, not the trades, so it cannot redo it). Trades on that day or later are fine."
	return &command{
		name: side, args: "PORTFOLIO SYMBOL QUANTITY", nargs: 3, needsDB: true, summary: summary,
		help:     help,
		required: []string{"price"},
		flags: func(fs *flag.FlagSet) {
			fs.String("price", "", "price per share (required)")
			fs.String("date", "", "trade date, YYYY-MM-DD (default today in UTC)")
		},
		run: func(e *env, args []string) error { return trade(e, tracker.Side(side), args) },
	}
}

// flagOf reads a flag the command registered.
func flagOf(e *env, name string) string { return e.flags.Lookup(name).Value.String() }

func optionalDate(e *env) (time.Time, error) {
	s := flagOf(e, "date")
	if s == "" {
		return time.Time{}, nil
	}
	return domain.ParseDate(s)
}

func securityAdd(e *env, args []string) error {
	name := flagOf(e, "name")
	if name == "" {
		return usagef("--name is required")
	}
	v, err := e.svc.AddSecurity(e.ctx, args[0], name, flagOf(e, "currency"))
	if errors.Is(err, domain.ErrAlreadyExists) {
		// In the words of the other refusals, "create security: ...".
		sym, _ := domain.ParseSymbol(args[0])
		return reword(fmt.Sprintf("create security %s: already exists", sym), err)
	}
	if err != nil {
		return err
	}
	if e.g.json {
		return printJSON(e.stdout, v)
	}
	fmt.Fprintf(e.stdout, "Added %s (%s, %s).\n", v.Symbol, v.Name, v.Currency)
	return nil
}

func securityList(e *env, _ []string) error {
	var all []tracker.SecurityView
	for after := ""; ; {
		page, err := e.svc.Securities(e.ctx, uow.ListOptions{NameContains: flagOf(e, "search"), After: after, Limit: 1000})
		if err != nil {
			return err
		}
		all = append(all, page...)
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Symbol
	}
	e.none = len(all) == 0
	if e.g.json {
		return printJSON(e.stdout, nonNil(all))
	}
	if search := flagOf(e, "search"); len(all) == 0 && search != "" {
		fmt.Fprintf(e.stdout, "No security's name or symbol contains %s.\n", quotedSearch(search))
		return nil
	}
	if len(all) == 0 {
		fmt.Fprintln(e.stdout, "No securities yet: add one with 'security add SYMBOL --name NAME'.")
		return nil
	}
	t := newTable("SYMBOL", "NAME", "CURRENCY", ">PRICE", "DATE")
	for _, s := range all {
		price, date := "-", "-"
		if s.LastPrice != nil {
			price, date = money(*s.LastPrice), s.PriceDate.String()
		}
		t.add(s.Symbol, s.Name, s.Currency, price, date)
	}
	t.write(e.stdout)
	return nil
}

func priceSet(e *env, args []string) error {
	sym, err := domain.ParseSymbol(args[0])
	if err != nil {
		return err
	}
	e.changing = "security " + sym
	price, err := domain.ParsePrice(args[1])
	if err != nil {
		if _, perr := domain.ParsePrice(args[0]); perr == nil {
			// "price set 190 AAPL": 190 is a symbol's shape too.
			return withHint(err, "price set takes SYMBOL PRICE")
		}
		return err
	}
	on, err := optionalDate(e)
	if err != nil {
		return err
	}
	v, err := e.svc.SetPrice(e.ctx, sym, price, on)
	if err != nil {
		return err
	}
	if e.g.json {
		return printJSON(e.stdout, v)
	}
	fmt.Fprintf(e.stdout, "%s: %s on %s.\n", v.Symbol, money(*v.LastPrice), v.PriceDate)
	return nil
}

// openInput opens a file to import, or standard input for "-". Its reads
// end as soon as e.ctx does (on Ctrl-C), rather than when the input next
// has data; so does the opening itself, which for a named pipe waits until
// a writer opens the other end.
func openInput(e *env, name string) (io.ReadCloser, error) {
	if name == "-" {
		return readUntilDone(e.ctx, io.NopCloser(e.stdin)), nil
	}
	if name == "" {
		return nil, reword("the file name is empty: give a CSV file, or - for standard input", domain.ErrInvalid)
	}
	type opened struct {
		f   *os.File
		err error
	}
	done := make(chan opened, 1)
	go func() {
		f, err := os.Open(name)
		done <- opened{f, err}
	}()
	var o opened
	select {
	case o = <-done:
	case <-e.ctx.Done():
		// The open may still succeed when a writer comes: close what it
		// opens then. A process that is ending does not wait for it.
		go func() {
			if o := <-done; o.f != nil {
				o.f.Close()
			}
		}()
		return nil, interrupted(e, name, context.Cause(e.ctx))
	}
	switch {
	case errors.Is(o.err, fs.ErrNotExist) || errors.Is(o.err, syscall.ENOTDIR):
		// ENOTDIR: a file where the path wants a directory, a.csv/b.csv.
		return nil, fmt.Errorf("%w: %s", errNoFile, shownPath(name))
	case errors.Is(o.err, syscall.ENAMETOOLONG):
		return nil, reword(fmt.Sprintf("the file name is too long for the system (%d bytes): give a CSV file, or - for standard input", len(name)), domain.ErrInvalid)
	case o.err != nil:
		// Permission denied, say: the cause in words, without Go's
		// "open NAME:" in front of it.
		cause := o.err
		var pe *fs.PathError
		if errors.As(o.err, &pe) {
			cause = pe.Err
		}
		return nil, fmt.Errorf("cannot open %s: %w", shownPath(name), cause)
	}
	if fi, err := o.f.Stat(); err == nil && fi.IsDir() {
		o.f.Close()
		return nil, reword(fmt.Sprintf("%s is a directory: give a CSV file, or - for standard input", shownPath(name)), domain.ErrInvalid)
	}
	return readUntilDone(e.ctx, o.f), nil
}

// readUntilDone reads r in a goroutine of its own, so that a read blocked on
// a terminal or a pipe that stays silent does not keep the import from
// ending with ctx: reads then fail with ctx's error at once. Closing the
// result closes r.
func readUntilDone(ctx context.Context, r io.ReadCloser) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		_, err := io.Copy(pw, r)
		var pe *fs.PathError
		if errors.As(err, &pe) {
			// The message names the file already: "cannot read: input/output
			// error", not "read NAME: input/output error" after it.
			err = fmt.Errorf("cannot read: %w", pe.Err)
		}
		pw.CloseWithError(err) // io.EOF for a nil err
	}()
	stop := context.AfterFunc(ctx, func() { pw.CloseWithError(context.Cause(ctx)) })
	return &pipedInput{PipeReader: pr, stop: stop, src: r}
}

type pipedInput struct {
	*io.PipeReader
	stop func() bool
	src  io.Closer
}

func (p *pipedInput) Close() error {
	p.stop()
	// Ends the copy if it is waiting to write; if it is blocked reading
	// standard input, it ends with the process.
	_ = p.PipeReader.Close()
	return p.src.Close()
}

// interrupted says that an import ended with e.ctx, so before it wrote
// anything: its unit of work rolled back, unless the commit was already
// in flight, in which case err says so as it is.
func interrupted(e *env, input string, err error) error {
	if e.ctx.Err() == nil || !errors.Is(err, context.Canceled) || errors.Is(err, uow.ErrCommitUnknown) {
		return err
	}
	return reword(fmt.Sprintf("interrupted while importing %s: nothing was written", inputName(input)), err)
}

// inputName names an input to import in a message.
func inputName(name string) string {
	if name == "-" {
		return "standard input"
	}
	return name
}

// isPortfolio reports whether name is that of a portfolio, for a hint.
func isPortfolio(e *env, name string) bool {
	n, err := domain.ParsePortfolioNameToFind(name)
	if err != nil {
		return false
	}
	_, err = e.svc.Portfolio(e.ctx, tracker.ByName(n))
	return err == nil
}

// noRows notes an input with no rows of data (empty, or a header alone):
// importing it is no error, but it may well be the wrong file.
func noRows(e *env, name string, n int) {
	if n == 0 {
		fmt.Fprintf(e.stderr, "folio: note: %s has no rows of data\n", inputName(name))
	}
}

// progress returns a function that shows a count on a terminal, and does
// nothing when stderr is not one.
func (e *env) progress(what string) (func(int), func()) {
	if !e.tty {
		return func(int) {}, func() {}
	}
	shown := false
	return func(n int) {
			if n%5000 == 0 {
				fmt.Fprintf(e.stderr, "\r%s %d rows", what, n)
				shown = true
			}
		}, func() {
			if shown {
				fmt.Fprint(e.stderr, "\r\033[K")
			}
		}
}

func priceImport(e *env, args []string) error {
	f, err := openInput(e, args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	show, done := e.progress("read")
	rows, err := readPrices(f, show)
	done()
	if err != nil {
		return interrupted(e, args[0], fmt.Errorf("%s: %w", inputName(args[0]), err))
	}
	noRows(e, args[0], len(rows))
	res, err := e.svc.ImportPrices(e.ctx, rows)
	if err != nil {
		return interrupted(e, args[0], fmt.Errorf("%s: %w", inputName(args[0]), err))
	}
	if e.g.json {
		return printJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "Imported %s for %s.\n", count(res.Imported, "price", "prices"), count(res.Securities, "security", "securities"))
	if res.Skipped > 0 {
		fmt.Fprintf(e.stdout, "Skipped %d older than a price already known for the same security.\n", res.Skipped)
	}
	return nil
}

func portfolioCreate(e *env, args []string) error {
	v, err := e.svc.CreatePortfolio(e.ctx, args[0], flagOf(e, "currency"))
	if errors.Is(err, domain.ErrAlreadyExists) {
		// In the words of the other refusals, "create portfolio: ...".
		name, _ := domain.ParsePortfolioName(args[0])
		return reword("create portfolio "+quoted(name)+": already exists", err)
	}
	if err != nil {
		return err
	}
	if e.g.json {
		return printJSON(e.stdout, v)
	}
	fmt.Fprintf(e.stdout, "Created portfolio %s (%s).\n", quoted(v.Name), v.Currency)
	return nil
}

func portfolioList(e *env, _ []string) error {
	var all []tracker.PortfolioSummary
	for after := ""; ; {
		page, err := e.svc.Portfolios(e.ctx, uow.ListOptions{NameContains: flagOf(e, "search"), After: after, Limit: 1000})
		if err != nil {
			return err
		}
		all = append(all, page...)
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Name
	}
	e.none = len(all) == 0
	if e.g.json {
		return printJSON(e.stdout, nonNil(all))
	}
	if search := flagOf(e, "search"); len(all) == 0 && search != "" {
		fmt.Fprintf(e.stdout, "No portfolio name contains %s.\n", quotedSearch(search))
		return nil
	}
	if len(all) == 0 {
		fmt.Fprintln(e.stdout, "No portfolios: create one with 'portfolio create NAME'.")
		return nil
	}
	t := newTable("NAME", "CURRENCY", ">LOTS", ">COST BASIS")
	for _, p := range all {
		t.add(p.Name, p.Currency, fmt.Sprint(p.Lots), money(p.CostBasis))
	}
	t.write(e.stdout)
	return nil
}

func portfolioShow(e *env, args []string) error {
	ref, err := byName(e, args[0])
	if err != nil {
		return err
	}
	v, err := e.svc.Portfolio(e.ctx, ref)
	if err != nil {
		return err
	}
	if e.g.json {
		return printJSON(e.stdout, v)
	}
	fmt.Fprintf(e.stdout, "%s (%s, version %d)\n\n", v.Name, v.Currency, v.Version)
	if len(v.Lots) == 0 {
		fmt.Fprintln(e.stdout, "No lots: buy with 'buy PORTFOLIO SYMBOL QUANTITY --price P'.")
		return nil
	}
	t := newTable("SECURITY", ">QUANTITY", ">UNIT COST", ">COST", "ACQUIRED")
	for _, l := range v.Lots {
		t.add(l.Symbol, num(l.Quantity), money(l.UnitCost), money(l.Cost), l.AcquiredOn.String())
	}
	t.write(e.stdout)
	return nil
}

func portfolioRename(e *env, args []string) error {
	ref, err := byName(e, args[0])
	if err != nil {
		return err
	}
	v, err := e.svc.RenamePortfolio(e.ctx, ref, args[1], nil)
	if err != nil {
		return err
	}
	if e.g.json {
		return printJSON(e.stdout, v)
	}
	if v.Name == ref.Name {
		fmt.Fprintf(e.stdout, "%s already has that name; nothing changed.\n", quoted(v.Name))
		return nil
	}
	fmt.Fprintf(e.stdout, "Renamed %s to %s.\n", quoted(ref.Name), quoted(v.Name))
	return nil
}

func portfolioDelete(e *env, args []string) error {
	ref, err := byName(e, args[0])
	if err != nil {
		return err
	}
	if err := e.svc.DeletePortfolio(e.ctx, ref, nil); err != nil {
		return err
	}
	if e.g.json {
		return printJSON(e.stdout, map[string]string{"deleted": ref.Name})
	}
	fmt.Fprintf(e.stdout, "Deleted portfolio %s and its lots.\n", quoted(ref.Name))
	return nil
}

func trade(e *env, side tracker.Side, args []string) error {
	ref, err := byName(e, args[0])
	if err != nil {
		return err
	}
	sym, err := domain.ParseSymbol(args[1])
	if err != nil {
		return err
	}
	qty, err := domain.ParseQuantity(args[2])
	if err != nil {
		return err
	}
	priceArg := flagOf(e, "price")
	if priceArg == "" {
		return usagef("--price is required")
	}
	price, err := domain.ParsePrice(priceArg)
	if err != nil {
		return err
	}
	on, err := optionalDate(e)
	if err != nil {
		return err
	}
	v, err := e.svc.Trade(e.ctx, ref,
		tracker.Trade{Side: side, Symbol: sym, Quantity: qty, Price: price, Date: on}, nil)
	if errors.Is(err, domain.ErrNotFound) {
		if s, serr := e.svc.Security(e.ctx, args[0]); serr == nil && isPortfolio(e, args[1]) {
			return withHint(err, fmt.Sprintf("%s is a security and %q a portfolio: %s takes PORTFOLIO SYMBOL QUANTITY",
				s.Symbol, args[1], side))
		}
	}
	if err != nil {
		return err
	}
	if e.g.json {
		return printJSON(e.stdout, v)
	}
	if side == tracker.Buy {
		fmt.Fprintf(e.stdout, "Bought %s %s at %s on %s in %s.\n", num(v.Quantity), v.Symbol, money(v.Price), v.Date, quoted(v.Portfolio))
	} else {
		fmt.Fprintf(e.stdout, "Sold %s %s at %s on %s from %s: cost basis %s, realized gain %s.\n",
			num(v.Quantity), v.Symbol, money(v.Price), v.Date, quoted(v.Portfolio), money(*v.CostBasis), money(*v.RealizedGain))
	}
	return nil
}

func tradeImport(e *env, args []string) error {
	ref, err := byName(e, args[0])
	if err != nil {
		return err
	}
	// A misspelt name is reported before the input is read, which from
	// standard input or a pipe may take a while: one read, outside the
	// import's unit, which finds the portfolio again.
	if _, err := e.svc.Portfolio(e.ctx, ref); err != nil {
		if st, serr := os.Stat(args[0]); errors.Is(err, domain.ErrNotFound) && serr == nil && st.Mode().IsRegular() && isPortfolio(e, args[1]) {
			return withHint(err, fmt.Sprintf("%s is a file and %q a portfolio: trade import takes PORTFOLIO FILE.csv", args[0], args[1]))
		}
		return err
	}
	f, err := openInput(e, args[1])
	if err != nil {
		return err
	}
	defer f.Close()
	show, done := e.progress("read")
	trades, err := readTrades(f, show)
	done()
	if err != nil {
		return interrupted(e, args[1], fmt.Errorf("%s: %w", inputName(args[1]), err))
	}
	noRows(e, args[1], len(trades))
	var apply func(done, total int)
	if e.tty && len(trades) >= 5000 {
		apply = func(done, total int) { fmt.Fprintf(e.stderr, "\rapplied %d of %d trades", done, total) }
	}
	res, err := e.svc.ImportTrades(e.ctx, ref, trades, apply)
	if apply != nil {
		fmt.Fprint(e.stderr, "\r\033[K")
	}
	var rowErr *tracker.RowError
	if errors.As(err, &rowErr) {
		err = fmt.Errorf("%s: %w", inputName(args[1]), err)
	}
	if err != nil {
		// Only a row's error is the input's: a portfolio deleted since
		// the check above is not.
		return interrupted(e, args[1], err)
	}
	if e.g.json {
		return printJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "Imported %s into %s (%s, %s, realized gain %s).\n",
		count(res.Trades, "trade", "trades"), quoted(res.Portfolio), count(res.Buys, "buy", "buys"),
		count(res.Sells, "sell", "sells"), money(res.Realized))
	return nil
}

func report(e *env, args []string) error {
	ref, err := byName(e, args[0])
	if err != nil {
		return err
	}
	v, err := e.svc.Report(e.ctx, ref)
	if err != nil {
		return err
	}
	if e.g.json {
		return printJSON(e.stdout, v)
	}
	writeReport(e.stdout, v)
	return nil
}

func writeReport(w io.Writer, v tracker.ReportView) {
	fmt.Fprintf(w, "%s (%s) as of %s\n\n", v.Portfolio, v.Currency, v.AsOf)
	if len(v.Holdings) == 0 {
		fmt.Fprintln(w, "No holdings.")
		return
	}
	t := newTable("SECURITY", ">QUANTITY", ">COST BASIS", ">PRICE", ">MARKET VALUE", ">UNREALIZED", ">WEIGHT", "")
	for _, h := range v.Holdings {
		if h.Price == nil {
			t.add(h.Symbol, num(h.Quantity), money(h.CostBasis), "no price", "-", "-", "-", "")
			continue
		}
		t.add(h.Symbol, num(h.Quantity), money(h.CostBasis), money(*h.Price), money(*h.MarketValue),
			signed(*h.UnrealizedGain), percent(*h.Weight), bar(*h.Weight, 20))
	}
	t.add("TOTAL", "", money(v.CostBasis), "", money(v.MarketValue), signed(v.UnrealizedGain), "", "")
	t.write(w)
	if v.Unpriced > 0 {
		// The TOTAL row's gain is not its market value less its cost
		// basis then: say why.
		unpriced := decimal.Zero
		for _, h := range v.Holdings {
			if h.Price == nil {
				unpriced = unpriced.Add(h.CostBasis)
			}
		}
		if v.Unpriced == 1 {
			fmt.Fprintf(w, "\n1 holding without a price is left out of market value, gain and weights; its cost basis, %s, is in the total. Set its price with 'price set'.\n", money(unpriced))
		} else {
			fmt.Fprintf(w, "\n%d holdings without a price are left out of market value, gain and weights; their cost basis, %s, is in the total. Set their prices with 'price set'.\n", v.Unpriced, money(unpriced))
		}
	}
}

func signed(d decimal.Decimal) string {
	if d.Sign() > 0 {
		return "+" + money(d)
	}
	return money(d)
}

// byName refers to a portfolio by the name the user typed, in the form
// names are stored in. A name no portfolio can have, such as "", is refused
// as invalid input, in the words "portfolio create" would use, rather than
// looked up and not found; one stored before a rule that would refuse it
// now is found (so that it can be renamed). The portfolio is what the
// command changes.
func byName(e *env, name string) (tracker.Ref, error) {
	n, err := domain.ParsePortfolioNameToFind(name)
	if err != nil {
		return tracker.Ref{}, err
	}
	e.changing = "portfolio " + quoted(n)
	return tracker.ByName(n), nil
}

// nonNil makes an empty list print as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
