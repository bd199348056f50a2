package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
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
