// Package folio is a schema-first data layer for Go services on PostgreSQL
// and a portfolio tracker built on it.
//
// The SQL is the source of truth: goose migrations in sql/schema define the
// tables, sqlc turns sql/queries into typed functions (internal/dbgen), and a
// hand-written unit of work (internal/uow) loads and saves domain aggregates
// (internal/domain) in as few round trips as the protocol allows. The command
// in cmd/app migrates, manages portfolios, reports and serves an HTTP API.
//
// This package only carries the migrations, so that the binary embeds the
// very files the goose CLI runs.
package folio

import (
	"embed"
	"io/fs"
)

// Migrations holds the goose migrations of sql/schema, at the root of the FS.
var Migrations = mustSub(migrations, "sql/schema")

//go:embed sql/schema/*.sql
var migrations embed.FS

func mustSub(fsys embed.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		// Only reachable if the embed pattern above and dir disagree.
		panic(err)
	}
	return sub
}
