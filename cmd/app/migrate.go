package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/folio-dev/folio/internal/domain"
	"github.com/folio-dev/folio/internal/migrate"
)

// defaultMigrations is where migrate create writes, relative to the working
// directory: the project's own migrations.
var defaultMigrations = filepath.Join("sql", "schema")

func migrateCommand() *command {
	// withMigrator runs a migrate command; did is what the command does to
	// migrations ("applied", "rolled back"), "" if it only reads.
	withMigrator := func(did string, run func(*env, *migrate.Migrator) error) func(*env, []string) error {
		return func(e *env, _ []string) error {
			m, err := migrate.New(e.pool)
			if err != nil {
				return err
			}
			defer m.Close()
			if err := run(e, m); err != nil {
				if did != "" && stopped(e) {
					// Each migration runs in a transaction of its own: those
					// done before the signal stay done.
					return reword("interrupted: each migration is a transaction of its own, so those "+did+
						" before the signal stay "+did+"; 'folio migrate status' shows which", err)
				}
				return err
			}
			return nil
		}
	}
	sub := func(name, summary, did string, run func(*env, *migrate.Migrator) error) *command {
		return &command{name: name, nargs: 0, needsDB: true, noSchema: true, summary: summary, run: withMigrator(did, run)}
	}
	// to is a command that migrates to the version in its argument.
	to := func(name, summary, did, none string, run func(*env, *migrate.Migrator, int64) ([]*migrate.Result, error)) *command {
		return &command{name: name, args: "VERSION", nargs: 1, needsDB: true, noSchema: true, summary: summary,
			run: func(e *env, args []string) error {
				v, err := strconv.ParseInt(args[0], 10, 64)
				if err != nil || !allDigits(args[0]) { // not "+3", "-0"
					return reword(fmt.Sprintf("invalid version %q: a migration's version is a whole number, like 3", args[0]), domain.ErrInvalid)
				}
				return withMigrator(did, func(e *env, m *migrate.Migrator) error {
					res, err := run(e, m, v)
					if errors.Is(err, migrate.ErrUnknownVersion) {
						return reword(strings.TrimPrefix(err.Error(), "migrate "+strings.TrimSuffix(name, "-to")+": "), domain.ErrInvalid, err)
					}
					return printResults(e, res, none, err)
				})(e, args)
			}}
	}
	return &command{
		name:    "migrate",
		summary: "schema migrations",
		help: "Runs the goose migrations embedded in the binary (sql/schema), holding a\n" +
			"PostgreSQL advisory lock so that concurrent runs take turns. The same files\n" +
			"run with the stock goose CLI: make goose ARGS='postgres \"$DATABASE_URL\" status'.",
		sub: []*command{
			sub("up", "apply every pending migration", "applied", func(e *env, m *migrate.Migrator) error {
				res, err := m.Up(e.ctx)
				none := "The schema is up to date."
				if cur, latest, verr := m.Version(e.ctx); err == nil && len(res) == 0 && verr == nil && cur > latest {
					none = fmt.Sprintf("Nothing to apply: the database is at version %d, newer than the newest migration here (%d).", cur, latest)
				}
				return printResults(e, res, none, err)
			}),
			to("up-to", "apply the pending migrations up to and including VERSION", "applied", "Nothing to apply: the schema is at or past that version.",
				func(e *env, m *migrate.Migrator, v int64) ([]*migrate.Result, error) { return m.UpTo(e.ctx, v) }),
			sub("down", "roll back the most recent migration", "rolled back", func(e *env, m *migrate.Migrator) error {
				res, err := m.Down(e.ctx)
				if errors.Is(err, migrate.ErrNoChange) {
					return printResults(e, nil, "Nothing to roll back.", nil)
				}
				if err != nil {
					return err
				}
				return printResults(e, []*migrate.Result{res}, "", nil)
			}),
			to("down-to", "roll back the migrations above VERSION (0: all of them)", "rolled back", "Nothing to roll back: the schema is at or below that version.",
				func(e *env, m *migrate.Migrator, v int64) ([]*migrate.Result, error) { return m.DownTo(e.ctx, v) }),
			sub("redo", "roll back the most recent migration and apply it again", "done", func(e *env, m *migrate.Migrator) error {
				res, err := m.Redo(e.ctx)
				if errors.Is(err, migrate.ErrNoChange) {
					return printResults(e, nil, "Nothing to redo: no migration is applied.", nil)
				}
				return printResults(e, res, "", err)
			}),
			sub("reset", "roll back every migration", "rolled back", func(e *env, m *migrate.Migrator) error {
				res, err := m.Reset(e.ctx)
				return printResults(e, res, "Nothing to roll back.", err)
			}),
			sub("status", "list migrations and whether they are applied", "", migrateStatus),
			sub("version", "print the schema version", "", func(e *env, m *migrate.Migrator) error {
				cur, latest, err := m.Version(e.ctx)
				if err != nil {
					return err
				}
				e.none = cur == 0
				if e.g.json {
					return printJSON(e.stdout, struct {
						Version int64 `json:"version"`
						Latest  int64 `json:"latest"`
					}{cur, latest}) // in the README's order, not a map's
				}
				fmt.Fprintf(e.stdout, "version %d (latest %d)\n", cur, latest)
				return nil
			}),
			{name: "create", args: "NAME", nargs: 1, summary: "write a new, empty migration file",
				help: "NAME is 1 to 60 letters, digits, spaces, '-' or '_', with a letter or digit\n" +
					"among them; it is lower-cased, and spaces and dashes become '_'. The file is\n" +
					"numbered one above the newest migration in --dir, as NNNNN_name.sql.",
				flags: func(fs *flag.FlagSet) { fs.String("dir", defaultMigrations, "migrations directory") },
				run: func(e *env, args []string) error {
					dir := flagOf(e, "dir")
					path, err := migrate.Create(dir, args[0])
					if err != nil {
						return createError(dir, err)
					}
					if e.g.json {
						return printJSON(e.stdout, map[string]string{"created": path})
					}
					fmt.Fprintf(e.stdout, "Created %s\n", path)
					return nil
				}},
		},
	}
}

type resultJSON struct {
	Version   int64  `json:"version"`
	File      string `json:"file"`
	Direction string `json:"direction"`
	Millis    int64  `json:"duration_ms"`
}

func printResults(e *env, res []*migrate.Result, none string, err error) error {
	if e.g.json {
		out := make([]resultJSON, 0, len(res))
		for _, r := range res {
			if r != nil && r.Source != nil {
				out = append(out, resultJSON{r.Source.Version, filepath.Base(r.Source.Path), r.Direction, r.Duration.Milliseconds()})
			}
		}
		if perr := printJSON(e.stdout, out); perr != nil && err == nil {
			err = perr
		}
		return err
	}
	for _, r := range res {
		if r != nil && r.Source != nil {
			fmt.Fprintf(e.stdout, "%-4s %05d %s (%s)\n", r.Direction, r.Source.Version,
				filepath.Base(r.Source.Path), r.Duration.Round(time.Millisecond))
		}
	}
	if len(res) == 0 && none != "" && err == nil {
		fmt.Fprintln(e.stdout, none)
	}
	return err
}

func migrateStatus(e *env, m *migrate.Migrator) error {
	st, err := m.Status(e.ctx)
	if err != nil {
		return err
	}
	type statusJSON struct {
		Version   int64      `json:"version"`
		File      string     `json:"file"`
		Applied   bool       `json:"applied"`
		AppliedAt *time.Time `json:"applied_at"`
	}
	out := make([]statusJSON, len(st))
	t := newTable(">VERSION", "FILE", "APPLIED")
	e.none = true // nothing applied: the note of a new cluster (see noteNewCluster)
	for i, s := range st {
		out[i] = statusJSON{Version: s.Source.Version, File: filepath.Base(s.Source.Path), Applied: s.State == "applied"}
		e.none = e.none && !out[i].Applied
		applied := "pending"
		if out[i].Applied {
			at := s.AppliedAt.UTC()
			out[i].AppliedAt = &at
			applied = at.Format("2006-01-02 15:04:05 UTC")
		}
		t.add(fmt.Sprintf("%05d", s.Source.Version), out[i].File, applied)
	}
	if e.g.json {
		return printJSON(e.stdout, out)
	}
	t.write(e.stdout)
	if cur, latest, err := m.Version(e.ctx); err == nil && cur > latest {
		fmt.Fprintf(e.stdout, "The database is at version %d, newer than the newest migration here (%d): a newer folio migrated it.\n", cur, latest)
	}
	return nil
}

// createError gives migrate create's failures their exit codes and words: a
// name that is not allowed is invalid input, a name that is taken a
// conflict, a missing directory not found.
func createError(dir string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		hint := "create it first, or give another with --dir"
		if dir == defaultMigrations {
			hint = "run folio in the root of the project, or give the directory with --dir"
		}
		return reword(fmt.Sprintf("the migrations directory %s does not exist: %s", dir, hint), errNoFile, err)
	case errors.Is(err, syscall.ENOTDIR):
		return reword(fmt.Sprintf("%s is not a directory: give the migrations directory with --dir", dir), domain.ErrInvalid, err)
	case errors.Is(err, migrate.ErrNameTaken):
		return reword(err.Error()+": choose another name", domain.ErrConflict, err)
	case errors.Is(err, migrate.ErrInvalidName):
		return reword("invalid "+err.Error(), domain.ErrInvalid, err)
	}
	return err
}

// allDigits reports whether s is one or more ASCII digits.
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
