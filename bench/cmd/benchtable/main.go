// Command benchtable turns the output of the suite (go test -bench, any
// number of runs, in one or more files) into the Markdown tables of
// BENCHMARKS.md: per scenario, the median of every metric for each
// implementation, and its ratio to the hand-written pgx floor.
//
//	go run ./cmd/benchtable out/bench.txt > out/table.md
//
// benchstat (run.sh runs it too) gives the confidence intervals; this gives
// the side-by-side view the project's targets are stated in.
package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"slices"
	"strings"

	"golang.org/x/perf/benchfmt"
)

// impls is the column order; the first is the base of every ratio.
var impls = []string{"pgx", "folio", "gorm", "bun"}

// samples holds, per scenario, implementation and unit, the values of all
// runs.
type samples struct {
	scenarios []string // in order of first appearance
	values    map[string]map[string]map[string][]float64
	config    map[string]string
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("benchtable: ")
	if len(os.Args) < 2 {
		log.Fatal("usage: benchtable bench.txt...")
	}
	s, err := read(os.Args[1:])
	if err != nil {
		log.Fatal(err)
	}
	if len(s.scenarios) == 0 {
		log.Fatal("no Benchmark<Scenario>/impl=<name> results found")
	}
	s.write(os.Stdout)
}

func read(files []string) (*samples, error) {
	s := &samples{values: map[string]map[string]map[string][]float64{}, config: map[string]string{}}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		r := benchfmt.NewReader(f, name)
		for r.Scan() {
			res, ok := r.Result().(*benchfmt.Result)
			if !ok {
				continue
			}
			for _, c := range res.Config {
				if c.File {
					s.config[c.Key] = string(c.Value)
				}
			}
			base, parts := res.Name.Parts()
			impl := ""
			for _, p := range parts {
				if v, ok := strings.CutPrefix(string(p), "/impl="); ok {
					impl = v
				}
			}
			if impl == "" {
				continue
			}
			scenario := string(base)
			if s.values[scenario] == nil {
				s.values[scenario] = map[string]map[string][]float64{}
				s.scenarios = append(s.scenarios, scenario)
			}
			if s.values[scenario][impl] == nil {
				s.values[scenario][impl] = map[string][]float64{}
			}
			for _, v := range res.Values {
				s.values[scenario][impl][v.Unit] = append(s.values[scenario][impl][v.Unit], v.Value)
			}
		}
		err = errors.Join(r.Err(), f.Close())
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// totalCPU is the pseudo-unit of client plus server CPU time, added run by
// run.
const totalCPU = "total-cpu"

// median returns the median of the unit's values (tried in order: the
// reader tidies "ns" in unit names to "sec"), and how many there are.
func (s *samples) median(scenario, impl string, units ...string) (float64, int) {
	for _, u := range units {
		vs := slices.Clone(s.values[scenario][impl][u])
		if u == totalCPU {
			vs = s.sumCPU(scenario, impl)
		}
		if len(vs) == 0 {
			continue
		}
		slices.Sort(vs)
		n := len(vs)
		if n%2 == 1 {
			return vs[n/2], n
		}
		return (vs[n/2-1] + vs[n/2]) / 2, n
	}
	return math.NaN(), 0
}

// sumCPU returns client + server CPU time per run, for the runs that
// report both (the values of one run sit at the same index).
func (s *samples) sumCPU(scenario, impl string) []float64 {
	m := s.values[scenario][impl]
	client, server := m["client-cpu-sec/op"], m["server-cpu-sec/op"]
	if len(client) != len(server) {
		return nil
	}
	sum := make([]float64, len(client))
	for i := range client {
		sum[i] = client[i] + server[i]
	}
	return sum
}

func (s *samples) write(w io.Writer) {
	runs := 0
	for _, sc := range s.scenarios {
		_, n := s.median(sc, "pgx", "sec/op")
		runs = max(runs, n)
	}
	fmt.Fprintf(w, "Medians of %d runs. Ratios are to hand-written pgx (the floor): 1.00× is as fast as the floor, 2.00× twice as slow.\n\n", runs)

	s.table(w, "Time per operation (wall clock, ns/op)", func(sc, impl string) string {
		return s.ratioCell(sc, impl, formatSeconds, "sec/op")
	})
	s.table(w, "CPU per operation, client + server (what a CPU-bound machine runs out of)", func(sc, impl string) string {
		return s.ratioCell(sc, impl, formatSeconds, totalCPU)
	})
	s.table(w, "Round trips / statements per operation", func(sc, impl string) string {
		rt, _ := s.median(sc, impl, "roundtrips/op")
		st, _ := s.median(sc, impl, "stmts/op")
		if math.IsNaN(rt) || math.IsNaN(st) {
			return "–"
		}
		return fmt.Sprintf("%s / %s", formatCount(rt), formatCount(st))
	})
	s.table(w, "Client CPU per operation (this process: driver, ORM, domain, GC)", func(sc, impl string) string {
		return s.ratioCell(sc, impl, formatSeconds, "client-cpu-sec/op", "client-cpu-ns/op")
	})
	s.table(w, "Server CPU per operation (all PostgreSQL processes)", func(sc, impl string) string {
		return s.ratioCell(sc, impl, formatSeconds, "server-cpu-sec/op", "server-cpu-ns/op")
	})
	s.table(w, "Memory allocated per operation (B/op)", func(sc, impl string) string {
		return s.ratioCell(sc, impl, formatBytes, "B/op")
	})
	s.table(w, "Allocations per operation", func(sc, impl string) string {
		return s.ratioCell(sc, impl, formatCount, "allocs/op")
	})
	var concurrent []string
	for _, sc := range s.scenarios {
		if v, _ := s.median(sc, "pgx", "tx/s"); !math.IsNaN(v) {
			concurrent = append(concurrent, sc)
		}
	}
	if len(concurrent) > 0 {
		s.tableOf(w, "Throughput and retries (concurrent scenarios): tx/s, retries/op", concurrent, func(sc, impl string) string {
			tps, _ := s.median(sc, impl, "tx/s")
			r, _ := s.median(sc, impl, "retries/op")
			if math.IsNaN(tps) {
				return "–"
			}
			return fmt.Sprintf("%.0f tx/s, %.3f retries", tps, r)
		})
	}
}

func (s *samples) table(w io.Writer, title string, cell func(scenario, impl string) string) {
	s.tableOf(w, title, s.scenarios, cell)
}

func (s *samples) tableOf(w io.Writer, title string, scenarios []string, cell func(scenario, impl string) string) {
	fmt.Fprintf(w, "**%s**\n\n| Scenario | %s |\n|---|%s\n", title, strings.Join(impls, " | "), strings.Repeat("---|", len(impls)))
	for _, sc := range scenarios {
		cells := make([]string, len(impls))
		for i, impl := range impls {
			cells[i] = cell(sc, impl)
		}
		fmt.Fprintf(w, "| %s | %s |\n", sc, strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
}

// ratioCell shows the floor's value as is, and the others' as a ratio to
// it with their value.
func (s *samples) ratioCell(sc, impl string, format func(float64) string, units ...string) string {
	v, _ := s.median(sc, impl, units...)
	if math.IsNaN(v) {
		return "–"
	}
	if impl == impls[0] {
		return format(v)
	}
	base, _ := s.median(sc, impls[0], units...)
	if math.IsNaN(base) || base == 0 {
		return format(v)
	}
	return fmt.Sprintf("**%.2f×** (%s)", v/base, format(v))
}

func formatSeconds(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1:
		return fmt.Sprintf("%.2f s", v)
	case a >= 1e-3:
		return fmt.Sprintf("%.1f ms", v*1e3)
	default:
		return fmt.Sprintf("%.0f µs", v*1e6)
	}
}

func formatBytes(v float64) string {
	switch {
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	default:
		return fmt.Sprintf("%.0f B", v)
	}
}

func formatCount(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}
