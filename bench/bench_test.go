package bench

import (
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// Every benchmark is Benchmark<Scenario>/impl=<name>, so that benchstat can
// put the four implementations of a scenario side by side (-col /impl).
// Besides ns/op, B/op and allocs/op, each reports stmts/op and
// roundtrips/op as counted by the Counter on the implementation's
// connections, over the timed operations only (after a warm-up that fills
// the statement caches), and the CPU time per operation of this process and
// of the server (cpu_test.go).

// reportCounts adds the per-operation statement and round-trip counts.
func reportCounts(b *testing.B, c Counts) {
	b.ReportMetric(float64(c.Statements)/float64(b.N), "stmts/op")
	b.ReportMetric(float64(c.RoundTrips)/float64(b.N), "roundtrips/op")
}

// loop times op (given the iteration number) with b.Loop after warm runs
// outside the timer, and reports the counts and CPU times.
func loop(b *testing.B, e *env, h handle, warm int, op func(i int) error) {
	b.Helper()
	i := 0
	for range warm {
		if err := op(i); err != nil {
			b.Fatal(err)
		}
		i++
	}
	before := h.counter.Counts()
	cpu := e.cpu.start()
	b.ReportAllocs()
	for b.Loop() {
		if err := op(i); err != nil {
			b.Fatal(err)
		}
		i++
	}
	e.cpu.report(b, cpu)
	reportCounts(b, h.counter.Counts().Sub(before))
}

func check(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLoadMany is scenario 1: 1,000 portfolios of 10 lots each, and the
// 1,000 securities they hold, in one read-only transaction.
func BenchmarkLoadMany(b *testing.B) {
	e := useEnv(b)
	d := e.loadData()
	check(b, e.load(d))
	ids := d.ids()
	for _, h := range e.order() {
		b.Run("impl="+h.Name(), func(b *testing.B) {
			var last Loaded
			loop(b, e, h, 2, func(int) (err error) {
				last, err = h.LoadMany(ctx, ids)
				return err
			})
			if p, l, s := last.Size(); p != 1000 || l != 10_000 || s != 1000 {
				b.Fatalf("loaded %d portfolios, %d lots, %d securities", p, l, s)
			}
		})
	}
}

// BenchmarkLoadOne is scenario 2: one portfolio of 10 lots in a read-only
// transaction, a different one of the 1,000 each time.
func BenchmarkLoadOne(b *testing.B) {
	e := useEnv(b)
	d := e.loadData()
	check(b, e.load(d))
	ids := d.ids()
	for _, h := range e.order() {
		b.Run("impl="+h.Name(), func(b *testing.B) {
			var last Loaded
			loop(b, e, h, 20, func(i int) (err error) {
				last, err = h.LoadOne(ctx, ids[i%len(ids)])
				return err
			})
			if p, l, _ := last.Size(); p != 1 || l != 10 {
				b.Fatalf("loaded %d portfolios, %d lots", p, l)
			}
		})
	}
}

// BenchmarkSaveNew is scenario 3: a new portfolio with 1,000 lots, in one
// transaction. The tables are emptied before each implementation runs.
func BenchmarkSaveNew(b *testing.B) {
	e := useEnv(b)
	template := e.newPortfolio()
	for _, h := range e.order() {
		b.Run("impl="+h.Name(), func(b *testing.B) {
			check(b, e.load(nil))
			const warm = 3
			loop(b, e, h, warm, func(i int) error {
				np := *template
				np.Name = fmt.Sprintf("New %s %d", h.Name(), i)
				return h.SaveNew(ctx, &np)
			})
			var ps, lots int
			check(b, e.admin.QueryRow(ctx, "SELECT (SELECT count(*) FROM portfolio), (SELECT count(*) FROM investment)").Scan(&ps, &lots))
			if ps != warm+b.N || lots != 1000*ps {
				b.Fatalf("%d portfolios and %d lots after %d saves", ps, lots, warm+b.N)
			}
		})
	}
}

// BenchmarkSell is scenario 4: in a portfolio of 100 lots, sell one share,
// which changes the quantity of one lot (read, modify, write).
func BenchmarkSell(b *testing.B) {
	e := useEnv(b)
	d := e.sellData()
	s := e.sale(d)
	for _, h := range e.order() {
		b.Run("impl="+h.Name(), func(b *testing.B) {
			check(b, e.load(d))
			const warm = 3
			loop(b, e, h, warm, func(int) error { return h.Sell(ctx, s) })
			var version int64
			var qty string
			check(b, e.admin.QueryRow(ctx, "SELECT version, (SELECT quantity::text FROM investment WHERE id = $2) FROM portfolio WHERE id = $1",
				d[0].id, d[0].lots[0].id).Scan(&version, &qty))
			n := int64(warm + b.N)
			if want := fmt.Sprintf("%d.0000000000", 1_000_000_000-n); version != 1+n || qty != want {
				b.Fatalf("version %d, quantity %s after %d sales; want %d, %s", version, qty, n, 1+n, want)
			}
		})
	}
}

// BenchmarkTransfer is scenario 5: transfers of one share between random
// pairs of 1,000 portfolios from 16 goroutines (8 per core on 2 cores). It
// reports transactions per second (tx/s) and retries per transfer, and
// checks that quantities are conserved. The portfolios are reloaded before
// every run, since each transfer adds a lot.
func BenchmarkTransfer(b *testing.B) {
	e := useEnv(b)
	d := e.transferData()
	ts := e.transfers(d, 1<<16)
	for _, h := range e.order() {
		b.Run("impl="+h.Name(), func(b *testing.B) {
			check(b, e.load(d))
			totals0, lots0, versions0, err := e.conservation()
			check(b, err)

			// Warm every connection of the pool up.
			const warm = 64
			_, err = transferAll(ctx, h, ts[len(ts)-warm:], poolSize)
			check(b, err)

			var next, retries atomic.Int64
			var failed sync.Once
			before := h.counter.Counts()
			cpu := e.cpu.start()
			// RunParallel starts parallelism × GOMAXPROCS goroutines.
			b.SetParallelism(max(1, poolSize/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					r, err := h.Transfer(ctx, ts[int(i)%(len(ts)-warm)])
					retries.Add(int64(r))
					if err != nil {
						failed.Do(func() { b.Error(err) })
						return
					}
				}
			})
			b.StopTimer()
			e.cpu.report(b, cpu)
			reportCounts(b, h.counter.Counts().Sub(before))
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
			b.ReportMetric(float64(retries.Load())/float64(b.N), "retries/op")

			totals, lots, versions, err := e.conservation()
			check(b, err)
			n := warm + b.N
			if !reflect.DeepEqual(totals0, totals) || lots != lots0+n || versions != versions0+2*int64(n) {
				b.Fatalf("after %d transfers: quantities conserved %v, %d lots (want %d), version sum %d (want %d)",
					n, reflect.DeepEqual(totals0, totals), lots, lots0+n, versions, versions0+2*int64(n))
			}
		})
	}
}

// BenchmarkRevalue is scenario 6: new prices for all 10,000 securities,
// alternating between two sets so that every operation changes every price.
func BenchmarkRevalue(b *testing.B) {
	e := useEnv(b)
	sets := e.quoteSets()
	for _, h := range e.order() {
		b.Run("impl="+h.Name(), func(b *testing.B) {
			// From the seeded prices, so that an implementation that did
			// nothing cannot pass the check below on the prices the one
			// before it left.
			check(b, e.resetPrices())
			check(b, e.vacuum("security"))
			last := -1
			loop(b, e, h, 2, func(i int) error {
				last = i % 2
				return h.Revalue(ctx, sets[last])
			})
			if _, err := e.checkPrices(sets[last]); err != nil {
				b.Fatal(err)
			}
		})
	}
}
