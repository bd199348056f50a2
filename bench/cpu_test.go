package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// CPU time per operation, beside wall time. On a machine shared with other
// work, ns/op moves with the load; CPU time spent by the benchmark process
// (client-cpu-ns/op) and by the PostgreSQL server (server-cpu-ns/op) moves
// much less, and tells where an implementation's time goes.
//
// The server's CPU time is the sum of utime and stime in /proc over the
// postmaster and its children (backends and background processes; the
// postmaster's cutime and cstime add the children that exited). It needs
// the server on this machine and /proc; otherwise only the client's is
// reported.

// clockTick is USER_HZ, the unit of the times in /proc/<pid>/stat: 100 on
// every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

type cpuClock struct {
	postmaster int // 0: server time unknown
}

// newCPUClock finds the postmaster as the parent of the backend serving the
// admin pool.
func (e *env) newCPUClock() cpuClock {
	var backend int
	if err := e.admin.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		return cpuClock{}
	}
	st, err := readStat(backend)
	if err != nil {
		return cpuClock{}
	}
	return cpuClock{postmaster: st.ppid}
}

type cpuReading struct {
	client, server time.Duration
	serverKnown    bool
}

// start reads the clocks at the start of a measurement: the server's first,
// so that scanning /proc is not charged to this process.
func (c cpuClock) start() cpuReading {
	var r cpuReading
	r.server, r.serverKnown = c.serverTime()
	r.client = clientTime()
	return r
}

// end reads the clocks at the end of a measurement: this process's first.
func (c cpuClock) end() cpuReading {
	var r cpuReading
	r.client = clientTime()
	r.server, r.serverKnown = c.serverTime()
	return r
}

func clientTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (c cpuClock) serverTime() (time.Duration, bool) {
	if c.postmaster == 0 {
		return 0, false
	}
	pm, err := readStat(c.postmaster)
	if err != nil {
		return 0, false
	}
	ticks := pm.utime + pm.stime + pm.cutime + pm.cstime
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == c.postmaster {
			continue
		}
		st, err := readStat(pid)
		if err != nil || st.ppid != c.postmaster {
			continue
		}
		ticks += st.utime + st.stime
	}
	return time.Duration(ticks) * clockTick, true
}

// report adds the CPU time per operation since start.
func (c cpuClock) report(b *testing.B, start cpuReading) {
	end := c.end()
	n := float64(b.N)
	b.ReportMetric(float64(end.client-start.client)/n, "client-cpu-ns/op")
	if start.serverKnown && end.serverKnown {
		b.ReportMetric(float64(end.server-start.server)/n, "server-cpu-ns/op")
	}
}

type procStat struct {
	ppid                         int
	utime, stime, cutime, cstime int64
}

// readStat reads the fields of /proc/<pid>/stat this file needs.
func readStat(pid int) (procStat, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name, in parentheses, may hold spaces: fields start
	// after the last ')'. fields[0] is the state (field 3 of proc(5)).
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := bytes.Fields(raw[i+1:])
	if len(fields) < 15 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	num := func(k int) int64 {
		n, _ := strconv.ParseInt(string(fields[k]), 10, 64)
		return n
	}
	return procStat{
		ppid:   int(num(1)), // field 4
		utime:  num(11),     // field 14
		stime:  num(12),     // field 15
		cutime: num(13),     // field 16
		cstime: num(14),     // field 17
	}, nil
}
