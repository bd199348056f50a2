-- The uniqueness of portfolio names may be checked at the end of a group
-- of statements (SET CONSTRAINTS portfolio_name_key DEFERRED), so that one
-- flush can pass a name from one portfolio to another, or swap two. It is
-- still checked after every statement unless a transaction asks otherwise.
-- A deferrable key cannot serve as the arbiter of INSERT ... ON CONFLICT
-- (name) or as the target of a foreign key, and the planner does not
-- count on its uniqueness; nothing in folio needs any of these.
-- The index is rebuilt: brief, but it locks the table while it runs.

-- +goose Up
ALTER TABLE portfolio
    DROP CONSTRAINT portfolio_name_key,
    ADD CONSTRAINT portfolio_name_key UNIQUE (name) DEFERRABLE INITIALLY IMMEDIATE;

-- +goose Down
ALTER TABLE portfolio
    DROP CONSTRAINT portfolio_name_key,
    ADD CONSTRAINT portfolio_name_key UNIQUE (name);
