package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio/internal/httpapi"
	"github.com/folio-dev/folio/internal/tracker"
	"github.com/folio-dev/folio/internal/uow"
)

// TestHostileNamesAreData: SQL in a name is a name, stored and returned
// verbatim, and the table it names is still there.
func TestHostileNamesAreData(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	for _, name := range []string{
		"'; DROP TABLE portfolio; --",
		`Robert"); DELETE FROM investment; --`,
		"Épargne 日本 📈",
		"<script>alert(1)</script>",
		`back\slash 100% _under_`,
	} {
		t.Run(name, func(t *testing.T) {
			body, err := json.Marshal(map[string]string{"name": name})
			require.NoError(t, err)
			p := requireJSON[tracker.PortfolioView](t, e.do(t, "POST", "/portfolios", string(body)), http.StatusCreated)
			assert.Equal(t, name, p.Name)

			got := requireJSON[tracker.PortfolioView](t, e.do(t, "GET", "/portfolios/"+p.ID.String(), ""), http.StatusOK)
			assert.Equal(t, name, got.Name)
			var stored string
			require.NoError(t, e.pool.QueryRow(ctx, "select name from portfolio where id = $1", p.ID).Scan(&stored))
			assert.Equal(t, name, stored)

			// Found by a substring of itself, passed in the query string.
			q := []rune(name)[1:5]
			sums := requireJSON[[]tracker.PortfolioSummary](t, e.do(t, "GET", "/portfolios?q="+url.QueryEscape(string(q)), ""), http.StatusOK)
			require.NotEmpty(t, sums)
			assert.Contains(t, names(sums), name)
		})
	}
	var exists bool
	require.NoError(t, e.pool.QueryRow(ctx, "select to_regclass('portfolio') is not null and to_regclass('investment') is not null").Scan(&exists))
	assert.True(t, exists, "the tables are still there")
	assert.Equal(t, 5, e.count(t, "portfolio"))
}

func names(ps []tracker.PortfolioSummary) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

// TestHugeBodies: a body over the limit is refused with 413 and nothing is
// written, whether its length is announced or streamed, and over a real
// connection.
func TestHugeBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	tenMB := `{"name":"` + strings.Repeat("x", 10<<20) + `"}`

	t.Run("announced", func(t *testing.T) {
		res := e.do(t, "POST", "/portfolios", tenMB)
		p := requireProblem(t, res, http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large")
		assert.Contains(t, p.Detail, "the limit is 1048576")
	})
	t.Run("streamed", func(t *testing.T) {
		// A reader of unknown length: no Content-Length to refuse early.
		body := io.MultiReader(strings.NewReader(tenMB))
		res := doReader(t, e.h, "POST", "/portfolios", body, true)
		p := requireProblem(t, res, http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large")
		assert.Contains(t, p.Detail, "exceeds the limit of 1048576 bytes")
	})
	t.Run("streamed trailing data", func(t *testing.T) {
		// A small object followed by megabytes of white space and junk.
		body := io.MultiReader(strings.NewReader(`{"name":"X"}`), strings.NewReader(strings.Repeat(" ", 2<<20)))
		res := doReader(t, e.h, "POST", "/portfolios", body, true)
		requireProblem(t, res, http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large")
	})
	t.Run("over the network", func(t *testing.T) {
		srv := httptest.NewServer(e.h)
		defer srv.Close()
		resp, err := http.Post(srv.URL+"/portfolios", "application/json", strings.NewReader(tenMB))
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		var p problem
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
		assert.Equal(t, httpapi.ProblemTypeBase+"body-too-large", p.Type)
		assert.Equal(t, http.StatusRequestEntityTooLarge, p.Status)
	})
	t.Run("a smaller limit", func(t *testing.T) {
		r, err := uow.NewRunner(e.pool)
		require.NoError(t, err)
		h := httpapi.New(tracker.New(r), httpapi.Options{MaxBodyBytes: 16})
		res := do(t, h, "POST", "/portfolios", `{"name":"seventeen bytes"}`)
		p := requireProblem(t, res, http.StatusRequestEntityTooLarge, "body-too-large", "Request body too large")
		assert.Contains(t, p.Detail, "the limit is 16")
	})
	assert.Zero(t, e.count(t, "portfolio"), "nothing written")
}

// TestProblemBodiesEscapeInput: what a client sent comes back in a detail
// as JSON text, never as markup or a broken document.
func TestProblemBodiesEscapeInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	res := e.do(t, "POST", "/portfolios", `{"name":"x","currency":"<b>\"}"}`)
	p := requireProblem(t, res, http.StatusUnprocessableEntity, "invalid-value", "Invalid value")
	assert.Contains(t, p.Detail, `"<b>\"}"`)
	assert.False(t, bytes.Contains(res.Body.Bytes(), []byte("<b>")), "HTML-escaped in JSON: %s", res.Body)
}
