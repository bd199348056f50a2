// Package domain is folio's domain model: securities, portfolios and the lots
// (investments) a portfolio holds, together with the rules that keep them
// valid.
//
// The package knows nothing about storage, HTTP or the CLI; it imports only
// the standard library, shopspring/decimal, google/uuid and, for the
// Unicode normalization of names, golang.org/x/text. Every value that
// enters the model passes through a Parse or Check function or a method that
// validates it, and a method that refuses a change leaves its receiver exactly
// as it was, so an aggregate in memory is always one that could be saved.
//
// Storage goes through one door in each direction: State returns a plain,
// deep-copied snapshot that a unit of work can diff and write, and the
// Restore functions rebuild an aggregate from such a snapshot, validating it
// again because a database row may have been edited by hand or by an older
// version of folio.
//
// Money and quantities are decimal.Decimal throughout and never float64:
// sums, products and cost bases are exact, and only portfolio weights (a
// division) are rounded.
package domain
