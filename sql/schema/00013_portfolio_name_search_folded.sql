-- Searching names ignoring case compares them lower-cased and then
-- normalized to NFC again, both the name and the text searched for.
-- Lower-casing a name can leave it out of NFC: "J̌" has no capital of one
-- code point, so a name keeps it as J and a combining caron, and lower()
-- makes that j and the caron, where the text "ǰ" searched for is one code
-- point. ILIKE compares the two lower-cased without normalizing, and did
-- not find the name. The trigram index is rebuilt on the expression the
-- search now uses, under the same name.

-- +goose Up
DROP INDEX portfolio_name_trgm_idx;
CREATE INDEX portfolio_name_trgm_idx ON portfolio USING gin ((normalize(lower(name), NFC)) gin_trgm_ops);

-- +goose Down
DROP INDEX portfolio_name_trgm_idx;
CREATE INDEX portfolio_name_trgm_idx ON portfolio USING gin (name gin_trgm_ops);
