package migrate_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/folio-dev/folio"
	"github.com/folio-dev/folio/internal/migrate"
)

// dirWith returns a temporary directory holding files with these names.
func dirWith(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte("-- +goose Up\n"), 0o644))
	}
	return dir
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestCreateNumbering(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		files []string
		arg   string
		want  string
	}{
		{"empty directory", nil, "first", "00001_first.sql"},
		{"one above the highest, gaps and all", []string{"00001_a.sql", "00007_b.sql", "00003_c.sql"}, "next", "00008_next.sql"},
		{"other files ignored", []string{"00002_a.sql", "README.md", "notes.sql", "00009_draft.sql.bak", "x_00010.sql"}, "next", "00003_next.sql"},
		{"unpadded versions", []string{"1_a.sql", "12_b.sql"}, "next", "00013_next.sql"},
		{"more than five digits", []string{"00001_a.sql", "123456_b.sql"}, "next", "123457_next.sql"},
		{"spaces and dashes become underscores, letters lower case", nil, "  Add Lots-Index ", "00001_add_lots_index.sql"},
		{"60 characters", nil, strings.Repeat("x", 60), "00001_" + strings.Repeat("x", 60) + ".sql"},
		{"digits and underscores", nil, "v2_backfill_2024", "00001_v2_backfill_2024.sql"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := dirWith(t, tc.files...)
			got, err := migrate.Create(dir, tc.arg)
			require.NoError(t, err)
			require.Equal(t, filepath.Join(dir, tc.want), got)

			body, err := os.ReadFile(got)
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(string(body), "-- +goose Up\n"), "%s:\n%s", got, body)
			require.Contains(t, string(body), "\n-- +goose Down\n")
			require.Len(t, listDir(t, dir), len(tc.files)+1)
		})
	}
}

func TestCreateRefuses(t *testing.T) {
	t.Parallel()
	existing := []string{"00001_create_security.sql", "00002_create_portfolio.sql"}
	cases := []struct {
		name, arg, wantErr string
	}{
		{"empty name", "", "use 1 to 60"},
		{"only spaces", "   ", "use 1 to 60"},
		{"parent directory", "../x", "use 1 to 60"},
		{"path separator", "a/b", "use 1 to 60"},
		{"semicolon", "a;b", "use 1 to 60"},
		{"dot", "x.sql", "use 1 to 60"},
		{"quote", "it's", "use 1 to 60"},
		{"newline", "a\nb", "use 1 to 60"},
		{"non-ASCII letter", "café", "use 1 to 60"},
		{"61 characters", strings.Repeat("x", 61), "use 1 to 60"},
		{"only an underscore", "_", "at least one letter or digit"},
		{"only dashes and spaces", "- -", "at least one letter or digit"},
		{"the name of an existing migration", "Create Security", `migration name "create_security" is taken by`},
		{"the name of an existing migration, as typed", "create_portfolio", `migration name "create_portfolio" is taken by`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := dirWith(t, existing...)
			got, err := migrate.Create(dir, tc.arg)
			require.ErrorContains(t, err, tc.wantErr)
			if strings.Contains(tc.wantErr, "is taken") {
				require.ErrorIs(t, err, migrate.ErrNameTaken)
			} else {
				require.ErrorIs(t, err, migrate.ErrInvalidName)
			}
			require.Empty(t, got)
			require.Equal(t, existing, listDir(t, dir), "Create wrote a file")
		})
	}

	t.Run("no version left", func(t *testing.T) {
		names := []string{"9223372036854775807_top.sql"}
		dir := dirWith(t, names...)
		got, err := migrate.Create(dir, "next")
		require.ErrorContains(t, err, "the highest version in "+dir+" is 9223372036854775807")
		require.Empty(t, got)
		require.Equal(t, names, listDir(t, dir), "Create wrote a file")
	})

	t.Run("missing directory", func(t *testing.T) {
		_, err := migrate.Create(filepath.Join(t.TempDir(), "nope"), "x")
		require.ErrorIs(t, err, fs.ErrNotExist)
	})
}

// Of many Creates of one name at once, exactly one writes a file: the others
// find the name taken or the file created under them.
func TestCreateConcurrently(t *testing.T) {
	t.Parallel()
	dir := dirWith(t, "00001_a.sql")
	const racers = 8
	paths := make([]string, racers)
	errs := make([]error, racers)
	together(racers, func(i int) { paths[i], errs[i] = migrate.Create(dir, "same") })

	created := 0
	for i, err := range errs {
		if err == nil {
			created++
			assert.Equal(t, filepath.Join(dir, "00002_same.sql"), paths[i])
		} else {
			assert.ErrorIs(t, err, migrate.ErrNameTaken)
			assert.ErrorContains(t, err, `migration name "same" is taken by `)
		}
	}
	require.Equal(t, 1, created)
	require.Equal(t, []string{"00001_a.sql", "00002_same.sql"}, listDir(t, dir))
}

// Creates at the same moment with different names take turns: each gets a
// version of its own, one after the other (goose refuses a directory where
// two files share one).
func TestCreateConcurrentlyWithDifferentNames(t *testing.T) {
	t.Parallel()
	dir := dirWith(t, "00001_a.sql")
	const racers = 8
	errs := make([]error, racers)
	together(racers, func(i int) { _, errs[i] = migrate.Create(dir, fmt.Sprintf("name_%d", i)) })
	for _, err := range errs {
		require.NoError(t, err)
	}
	files := listDir(t, dir)
	require.Len(t, files, racers+1)
	for i, f := range files {
		assert.True(t, strings.HasPrefix(f, fmt.Sprintf("%05d_", i+1)), "%s: versions 1 to %d, one file each: %v", f, racers+1, files)
	}
}

// A created migration, unedited, is one goose runs: up and down.
func TestCreatedMigrationRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := schemaFiles(t)
	for _, f := range files {
		data, err := fs.ReadFile(folio.Migrations, f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), data, 0o644))
	}
	created, err := migrate.Create(dir, "Next Change")
	require.NoError(t, err)
	n := int64(len(files))
	require.Equal(t, version(t, filepath.Base(created)), n+1)

	_, pool := emptyDB(t)
	m := newMigrator(t, pool, migrate.WithFS(os.DirFS(dir)))
	res, err := m.Up(ctx)
	require.NoError(t, err)
	require.Len(t, res, len(files)+1)
	last := res[len(res)-1]
	require.Equal(t, n+1, last.Source.Version)
	require.Equal(t, filepath.Base(created), filepath.Base(last.Source.Path))
	require.True(t, last.Empty, "the template holds no statement")
	requireVersion(t, m, n+1, n+1)

	down, err := m.Down(ctx)
	require.NoError(t, err)
	require.Equal(t, n+1, down.Source.Version)
	requireVersion(t, m, n, n+1)
	requireSchemaAt(t, pool, n)

	// The embedded migrations are untouched.
	embedded, err := fs.Glob(folio.Migrations, "*.sql")
	require.NoError(t, err)
	require.False(t, slices.Contains(embedded, filepath.Base(created)))
}

// together runs fn(0) to fn(n-1) in goroutines released at the same moment
// once all have started, and returns when all have returned.
func together(n int, fn func(i int)) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			fn(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
}
