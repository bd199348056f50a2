-- The day of a portfolio's latest sale. folio keeps the lots a portfolio
-- holds, not the history of its trades: a sale takes shares from the
-- oldest lots held on its day (first in, first out) and those shares are
-- gone. A trade dated before that sale would have changed which lots the
-- sale took (a buy) or would need lots it took (a sale), so it is refused,
-- and this column is what it is compared with. NULL: no sale recorded since
-- this migration (a sale recorded before it is not known).

-- +goose Up
ALTER TABLE portfolio
    ADD COLUMN last_sale_on date,
    ADD CONSTRAINT portfolio_last_sale_on_range CHECK (last_sale_on BETWEEN '1900-01-01' AND '9999-12-31');

-- +goose Down
ALTER TABLE portfolio DROP COLUMN last_sale_on;
