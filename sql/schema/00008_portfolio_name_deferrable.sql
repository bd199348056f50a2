-- The uniqueness of portfolio names may be checked at the end of a group
-- of statements (SET CONSTRAINTS portfolio_name_key DEFERRED), so that one
-- flush can pass a name from one portfolio to another, or swap two. It is
-- still checked after every statement unless a transaction asks otherwise.
-- The index is rebuilt: brief, but it locks the table while it runs.

-- +goose Up
ALTER TABLE portfolio
    DROP CONSTRAINT portfolio_name_key,
    ADD CONSTRAINT portfolio_name_key UNIQUE (name) DEFERRABLE INITIALLY IMMEDIATE;

-- +goose Down
ALTER TABLE portfolio
    DROP CONSTRAINT portfolio_name_key,
    ADD CONSTRAINT portfolio_name_key UNIQUE (name);
