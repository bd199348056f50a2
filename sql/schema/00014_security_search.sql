-- Securities are searched as portfolios are (ListSecurities): the name,
-- lower-cased and normalized to NFC, or the symbol, lower-cased, contains
-- the text. Trigram indexes on both expressions let a search read the
-- matching rows of a large table (a BitmapOr of the two) instead of all of
-- them. They cost writes too: a price update that does not fit on the
-- row's page adds entries to every index of the table, these included.

-- +goose Up
CREATE INDEX security_name_trgm_idx ON security USING gin ((normalize(lower(name), NFC)) gin_trgm_ops);
CREATE INDEX security_symbol_trgm_idx ON security USING gin ((lower(symbol)) gin_trgm_ops);

-- +goose Down
DROP INDEX security_symbol_trgm_idx;
DROP INDEX security_name_trgm_idx;
