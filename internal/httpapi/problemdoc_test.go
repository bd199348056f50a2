package httpapi

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every problem type is a section of docs/problems.md, the page its type
// URI points to, headed by its slug and stating its status; and every
// section there is a problem type.
func TestEveryProblemTypeIsDocumented(t *testing.T) {
	require.True(t, strings.HasSuffix(ProblemTypeBase, "/docs/problems.md#"), ProblemTypeBase)
	f, err := os.Open("../../docs/problems.md")
	require.NoError(t, err)
	defer f.Close()

	sections := map[string]string{} // slug -> its first paragraph line
	var order []string
	var last string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if slug, ok := strings.CutPrefix(line, "## "); ok {
			last = slug
			order = append(order, slug)
			continue
		}
		if last != "" && line != "" && sections[last] == "" {
			sections[last] = line
		}
	}
	require.NoError(t, sc.Err())

	var slugs []string
	for _, k := range append(slices.Clone(kinds), internal) {
		if !slices.Contains(slugs, k.slug) {
			slugs = append(slugs, k.slug)
		}
		first, ok := sections[k.slug]
		if assert.True(t, ok, "docs/problems.md has no section ## %s", k.slug) {
			assert.True(t, strings.HasPrefix(first, fmt.Sprintf("**%d", k.status)),
				"section %s begins %q, not with its status %d", k.slug, first, k.status)
		}
	}
	for _, s := range order {
		assert.Contains(t, slugs, s, "docs/problems.md documents %s, which no problem has", s)
	}
}
