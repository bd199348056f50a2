package bench

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/folio-dev/folio/internal/uow"
)

// TestScenariosAgree runs every scenario once through each implementation,
// from the same starting rows, and requires the same result: the same data
// loaded, or the same rows in the database afterwards. It also logs what
// each operation sent (statements and round trips; after a first run, so
// the statement caches are warm).
func TestScenariosAgree(t *testing.T) {
	e := useEnv(t)

	// agree runs op for every implementation after reset, and compares
	// what result returns with folio's.
	agree := func(t *testing.T, reset func() error, op func(Impl) error, result func(Impl) (any, error)) {
		t.Helper()
		var want any
		for i, h := range e.impls {
			if err := reset(); err != nil {
				t.Fatal(err)
			}
			// Warm up on a copy of the work, then reset and measure.
			if err := op(h); err != nil {
				t.Fatalf("%s: %v", h.Name(), err)
			}
			if err := reset(); err != nil {
				t.Fatal(err)
			}
			before := h.counter.Counts()
			if err := op(h); err != nil {
				t.Fatalf("%s: %v", h.Name(), err)
			}
			c := h.counter.Counts().Sub(before)
			t.Logf("%-5s %3d statements, %3d round trips", h.Name(), c.Statements, c.RoundTrips)
			got, err := result(h)
			if err != nil {
				t.Fatalf("%s: %v", h.Name(), err)
			}
			if i == 0 {
				want = got
				continue
			}
			if !reflect.DeepEqual(want, got) {
				t.Errorf("%s disagrees with %s:\n%s", h.Name(), e.impls[0].Name(), firstDifference(want, got))
			}
		}
	}
	noReset := func() error { return nil }

	t.Run("LoadMany", func(t *testing.T) {
		d := e.loadData()
		if err := e.load(d); err != nil {
			t.Fatal(err)
		}
		var got Loaded
		agree(t, noReset, func(im Impl) (err error) {
			got, err = im.LoadMany(ctx, d.ids())
			return err
		}, func(Impl) (any, error) {
			if p, l, s := got.Size(); p != 1000 || l != 10_000 || s != 1000 {
				return nil, fmt.Errorf("loaded %d portfolios, %d lots, %d securities", p, l, s)
			}
			return got.View(), nil
		})
	})

	t.Run("LoadOne", func(t *testing.T) {
		d := e.loadData()
		if err := e.load(d); err != nil {
			t.Fatal(err)
		}
		var got Loaded
		agree(t, noReset, func(im Impl) (err error) {
			got, err = im.LoadOne(ctx, d[7].id)
			return err
		}, func(Impl) (any, error) {
			if p, l, _ := got.Size(); p != 1 || l != 10 {
				return nil, fmt.Errorf("loaded %d portfolios, %d lots", p, l)
			}
			return got.View(), nil
		})
	})

	t.Run("SaveNew", func(t *testing.T) {
		np := e.newPortfolio()
		np.Name = "Agree"
		agree(t, func() error { return e.load(nil) }, func(im Impl) error {
			return im.SaveNew(ctx, np)
		}, func(Impl) (any, error) {
			return e.dumpPortfolios(false)
		})
	})

	t.Run("Sell", func(t *testing.T) {
		d := e.sellData()
		s := e.sale(d)
		agree(t, func() error { return e.load(d) }, func(im Impl) error {
			return im.Sell(ctx, s)
		}, func(Impl) (any, error) {
			return e.dumpPortfolios(true)
		})
	})

	t.Run("Transfer", func(t *testing.T) {
		// In sequence, so that the outcome is deterministic; concurrency
		// is checked below and in the benchmark.
		d := e.transferData()
		ts := e.transfers(d, 20)
		agree(t, func() error { return e.load(d) }, func(im Impl) error {
			for _, tr := range ts {
				if _, err := im.Transfer(ctx, tr); err != nil {
					return err
				}
			}
			return nil
		}, func(Impl) (any, error) {
			return e.dumpPortfolios(false)
		})
	})

	t.Run("TransferConcurrently", func(t *testing.T) {
		d := e.transferData()
		ts := e.transfers(d, 800)
		for _, h := range e.impls {
			if err := e.load(d); err != nil {
				t.Fatal(err)
			}
			totals0, lots0, versions0, err := e.conservation()
			if err != nil {
				t.Fatal(err)
			}
			retries, err := transferAll(ctx, h, ts, 16)
			if err != nil {
				t.Fatalf("%s: %v", h.Name(), err)
			}
			totals, lots, versions, err := e.conservation()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(totals0, totals) {
				t.Errorf("%s: quantities not conserved", h.Name())
			}
			if lots != lots0+len(ts) || versions != versions0+2*int64(len(ts)) {
				t.Errorf("%s: %d lots and version sum %d after %d transfers, want %d and %d",
					h.Name(), lots, versions, len(ts), lots0+len(ts), versions0+2*int64(len(ts)))
			}
			t.Logf("%-5s %d transfers from 16 goroutines, %d retries", h.Name(), len(ts), retries)
		}
	})

	t.Run("Revalue", func(t *testing.T) {
		// Each implementation starts from the seeded prices, and must
		// leave exactly the quotes of its last call: agreeing with the
		// previous one is not enough, which left the same prices.
		sets := e.quoteSets()
		k := 0
		agree(t, e.resetPrices, func(im Impl) error {
			k++
			return im.Revalue(ctx, sets[k%2])
		}, func(Impl) (any, error) {
			return e.checkPrices(sets[k%2])
		})
	})
}

// transferAll runs ts through h from n goroutines and returns the retries.
func transferAll(ctx context.Context, h Impl, ts []Transfer, n int) (int64, error) {
	var (
		next, retries atomic.Int64
		wg            sync.WaitGroup
		mu            sync.Mutex
		first         error
	)
	for range n {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(ts)) {
					return
				}
				r, err := h.Transfer(ctx, ts[i])
				retries.Add(int64(r))
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return retries.Load(), first
}

// firstDifference describes where two results first differ.
func firstDifference(want, got any) string {
	switch w := want.(type) {
	case []string:
		g := got.([]string)
		for i := range min(len(w), len(g)) {
			if w[i] != g[i] {
				return fmt.Sprintf("line %d:\n want %s\n got  %s", i, w[i], g[i])
			}
		}
		return fmt.Sprintf("%d lines, want %d", len(g), len(w))
	case View:
		g := got.(View)
		if len(w.Portfolios) != len(g.Portfolios) || len(w.Securities) != len(g.Securities) {
			return fmt.Sprintf("%d portfolios and %d securities, want %d and %d",
				len(g.Portfolios), len(g.Securities), len(w.Portfolios), len(w.Securities))
		}
		for i := range w.Portfolios {
			if !reflect.DeepEqual(w.Portfolios[i], g.Portfolios[i]) {
				return fmt.Sprintf("portfolio %d:\n want %+v\n got  %+v", i, w.Portfolios[i], g.Portfolios[i])
			}
		}
		for i := range w.Securities {
			if w.Securities[i] != g.Securities[i] {
				return fmt.Sprintf("security %d:\n want %+v\n got  %+v", i, w.Securities[i], g.Securities[i])
			}
		}
	}
	return fmt.Sprintf("want %v\ngot  %v", want, got)
}

// TestFolioCountsMatchReport checks the counting tracer against folio's own
// accounting (uow.Report) for every scenario run in one goroutine.
func TestFolioCountsMatchReport(t *testing.T) {
	e := useEnv(t)
	var counter *Counter
	for _, h := range e.impls {
		if h.Impl == Impl(e.folio) {
			counter = h.counter
		}
	}
	ld, sd := e.loadData(), e.sellData()
	np := e.newPortfolio()
	sets := e.quoteSets()
	n := 0
	for _, tc := range []struct {
		name  string
		reset func() error
		op    func(f *Folio) error
	}{
		{"LoadMany", func() error { return e.load(ld) }, func(f *Folio) error {
			_, err := f.LoadMany(ctx, ld.ids())
			return err
		}},
		{"LoadOne", func() error { return nil }, func(f *Folio) error {
			_, err := f.LoadOne(ctx, ld[0].id)
			return err
		}},
		{"SaveNew", func() error { return e.load(nil) }, func(f *Folio) error {
			n++
			p := *np
			p.Name = fmt.Sprint("Report ", n)
			return f.SaveNew(ctx, &p)
		}},
		{"Sell", func() error { return e.load(sd) }, func(f *Folio) error {
			return f.Sell(ctx, e.sale(sd))
		}},
		{"Revalue", func() error { return nil }, func(f *Folio) error {
			n++
			return f.Revalue(ctx, sets[n%2])
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.reset(); err != nil {
				t.Fatal(err)
			}
			if err := tc.op(e.folio); err != nil { // warm the statement cache
				t.Fatal(err)
			}
			var rep uow.Report
			before := counter.Counts()
			if err := tc.op(e.folio.WithOptions(uow.WithReport(&rep))); err != nil {
				t.Fatal(err)
			}
			got := counter.Counts().Sub(before)
			want := Counts{Statements: int64(rep.Stats.Statements), RoundTrips: int64(rep.RoundTrips)}
			if got != want {
				t.Errorf("tracer counted %+v, uow.Report says %+v", got, want)
			}
			t.Logf("%d statements in %d round trips: %v", rep.Stats.Statements, rep.RoundTrips, statementNames(rep))
		})
	}
}

func statementNames(rep uow.Report) []string {
	out := make([]string, len(rep.Statements))
	for i, s := range rep.Statements {
		out[i] = fmt.Sprintf("%d:%s", s.RoundTrip, s.Name())
	}
	return out
}

// Over four rounds, every implementation runs first once and right after
// each of the others once.
func TestBalancedOrder(t *testing.T) {
	const n = 4
	first := map[int]int{}
	follows := map[[2]int]int{}
	for r := range n {
		row := balancedOrder(n, r)
		if got := len(row); got != n {
			t.Fatalf("row %d has %d entries", r, got)
		}
		seen := map[int]bool{}
		for i, k := range row {
			seen[k] = true
			if i > 0 {
				follows[[2]int{row[i-1], k}]++
			}
		}
		if len(seen) != n {
			t.Fatalf("row %d is not a permutation: %v", r, row)
		}
		first[row[0]]++
	}
	for k := range n {
		if first[k] != 1 {
			t.Errorf("%d runs first %d times", k, first[k])
		}
		for j := range n {
			if j != k && follows[[2]int{j, k}] != 1 {
				t.Errorf("%d follows %d %d times", k, j, follows[[2]int{j, k}])
			}
		}
	}
}
