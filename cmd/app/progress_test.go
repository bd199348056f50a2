package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Imports count their rows on stderr when it is a terminal, every 5,000,
// and erase the count when done; elsewhere they print nothing.
func TestProgressOnlyOnATerminal(t *testing.T) {
	for _, tty := range []bool{true, false} {
		var stderr bytes.Buffer
		e := &env{stderr: &stderr, tty: tty}
		show, done := e.progress("read")
		for n := 1; n <= 12000; n++ {
			show(n)
		}
		done()
		if !tty {
			assert.Empty(t, stderr.String())
			continue
		}
		assert.Equal(t, "\rread 5000 rows\rread 10000 rows\r\033[K", stderr.String())
	}

	var stderr bytes.Buffer
	e := &env{stderr: &stderr, tty: true}
	show, done := e.progress("read")
	show(10) // a small file: no count, nothing to erase
	done()
	assert.False(t, strings.Contains(stderr.String(), "rows"))
	assert.Empty(t, stderr.String())
}

// TestProgressOnARealTerminal runs an import of 10,000 prices with its
// output on a pseudo-terminal (script(1) gives it one): the count shows
// every 5,000 rows and is erased at the end; on a pipe (every other test)
// it does not show.
func TestProgressOnARealTerminal(t *testing.T) {
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script (util-linux) is not installed: no pseudo-terminal to run on")
	}
	t.Parallel()
	c, pool := newCLI(t)
	c.ok(t, "security", "add", "AAPL", "--name", "Apple")
	var csv strings.Builder
	day := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10000 {
		fmt.Fprintf(&csv, "AAPL,%s,%d.5\n", day.AddDate(0, 0, i).Format(time.DateOnly), 100+i%50)
	}
	file := filepath.Join(t.TempDir(), "prices.csv")
	require.NoError(t, os.WriteFile(file, []byte(csv.String()), 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// -q: no "Script started" lines; -e: its exit status is the command's;
	// /dev/null: no typescript file. The terminal merges stdout and stderr.
	line := strconv.Quote(binary(t)) + " price import " + strconv.Quote(file)
	cmd := exec.CommandContext(ctx, scriptBin, "-qec", line, "/dev/null")
	cmd.Env = c.environ()
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%q", out)
	assert.Equal(t, "\rread 5000 rows\rread 10000 rows\r\x1b[K"+
		"Imported 10000 prices for 1 security.\r\n", string(out))
	assert.Equal(t, "149.5", queryOne[string](t, pool, "select trim_scale(last_price)::text from security"))
}
