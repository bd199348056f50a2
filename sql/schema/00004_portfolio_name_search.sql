-- Listing portfolios by a case-insensitive substring of the name
-- (name ILIKE '%' || $1 || '%') uses a trigram index once the table is large.
-- pg_trgm ships with the PostgreSQL server package and is a trusted extension,
-- so the database owner can create it without being a superuser.

-- +goose Up
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX portfolio_name_trgm_idx ON portfolio USING gin (name gin_trgm_ops);

-- +goose Down
DROP INDEX portfolio_name_trgm_idx;
-- The extension stays: other objects in the database may have come to use it.
