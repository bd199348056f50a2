package migrate_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// repoRoot returns the directory of folio's go.mod, above the test's
// working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if f, err := os.Open(filepath.Join(dir, "go.mod")); err == nil {
			s := bufio.NewScanner(f)
			module := s.Scan() && strings.TrimSpace(s.Text()) == "module github.com/folio-dev/folio"
			_ = f.Close()
			if module {
				return dir
			}
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.mod of github.com/folio-dev/folio above the working directory")
		dir = parent
	}
}

// The stock goose CLI, pinned in tools/go.mod, applies and rolls back the
// same files, and shares the version table with a Migrator: an operator may
// use either.
func TestGooseCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the goose CLI")
	}
	t.Parallel()
	root := repoRoot(t)
	goBin, err := exec.LookPath("go")
	require.NoError(t, err)
	n := int64(len(schemaFiles(t)))
	url, pool := emptyDB(t)

	goose := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Minute) // the first run builds goose
		defer cancel()
		cmd := exec.CommandContext(ctx, goBin, append([]string{"tool",
			"-modfile=" + filepath.Join(root, "tools", "go.mod"), "goose",
			"-dir", filepath.Join(root, "sql", "schema"), "postgres", url}, args...)...)
		cmd.Dir = root
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Run(), "goose %s:\n%s", strings.Join(args, " "), out.String())
		return out.String()
	}

	goose("up")
	requireSchemaAt(t, pool, n)
	m := newMigrator(t, pool)
	requireVersion(t, m, n, n)
	res, err := m.Up(ctx)
	require.NoError(t, err)
	require.Empty(t, res, "the Migrator found the CLI's work done")

	status := goose("status")
	for _, f := range schemaFiles(t) {
		line := ""
		for l := range strings.Lines(status) {
			if strings.Contains(l, f) {
				line = l
			}
		}
		require.NotEmpty(t, line, "%s missing from goose status:\n%s", f, status)
		require.NotContains(t, line, "Pending")
	}

	goose("down-to", "0")
	requireSchemaAt(t, pool, 0)
	requireVersion(t, m, 0, n)

	// And the other way round: the CLI rolls back what the Migrator applied.
	_, err = m.Up(ctx)
	require.NoError(t, err)
	goose("down")
	requireSchemaAt(t, pool, n-1)
	requireVersion(t, m, n-1, n)
	require.Contains(t, goose("status"), "Pending")
}
