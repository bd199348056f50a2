-- Securities are searched as portfolios are (ListSecurities): the name,
-- lower-cased and normalized to NFC, or the symbol, lower-cased, contains
-- the text. Trigram indexes on both expressions let a search read the
-- matching rows of a large table (a BitmapOr of the two) instead of all of
-- them. They cost writes too: a price update that does not fit on the
-- row's page adds entries to every index of the table, these included
-- (00015 leaves room on the pages).
--
-- Built CONCURRENTLY, so that prices and securities can still be written
-- while a large table is indexed; that cannot run in a transaction. A
-- build that fails leaves an invalid index behind: each is dropped first,
-- so running the migration again starts over.

-- +goose NO TRANSACTION

-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS security_name_trgm_idx;
CREATE INDEX CONCURRENTLY security_name_trgm_idx ON security USING gin ((normalize(lower(name), NFC)) gin_trgm_ops);
DROP INDEX CONCURRENTLY IF EXISTS security_symbol_trgm_idx;
CREATE INDEX CONCURRENTLY security_symbol_trgm_idx ON security USING gin ((lower(symbol)) gin_trgm_ops);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS security_symbol_trgm_idx;
DROP INDEX CONCURRENTLY IF EXISTS security_name_trgm_idx;
