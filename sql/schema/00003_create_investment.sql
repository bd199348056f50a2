-- An investment is one lot: a quantity of a security bought at a unit cost on
-- a day. Sells consume lots first in, first out, by (acquired_on, id); ids are
-- UUIDv7, so id order within a day is the order the lots were made.

-- +goose Up
CREATE TABLE investment (
    id            uuid           PRIMARY KEY,
    portfolio_id  uuid           NOT NULL,
    security_id   uuid           NOT NULL,
    quantity      numeric(28, 10) NOT NULL,
    unit_cost     numeric(28, 10) NOT NULL,
    acquired_on   date           NOT NULL,
    created_at    timestamptz    NOT NULL DEFAULT now(),
    updated_at    timestamptz    NOT NULL DEFAULT now(),

    CONSTRAINT investment_portfolio_fk FOREIGN KEY (portfolio_id)
        REFERENCES portfolio (id) ON DELETE CASCADE,
    CONSTRAINT investment_security_fk FOREIGN KEY (security_id)
        REFERENCES security (id) ON DELETE RESTRICT,
    CONSTRAINT investment_quantity_positive CHECK (quantity > 0),
    CONSTRAINT investment_unit_cost_nonnegative CHECK (unit_cost >= 0)
);

-- Loading the lots of many portfolios (portfolio_id = ANY($1)) in FIFO order.
CREATE INDEX investment_portfolio_lots_idx ON investment (portfolio_id, acquired_on, id);
-- The RESTRICT check when a security is deleted, and "who holds this security".
CREATE INDEX investment_security_idx ON investment (security_id);

-- +goose Down
DROP TABLE investment;
