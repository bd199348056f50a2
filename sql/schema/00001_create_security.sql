-- A security is anything with a price that a portfolio can hold a lot of:
-- a share, a fund, a bond. Its symbol is the key people use; the UUID is the
-- key rows use.

-- +goose Up
CREATE TABLE security (
    id          uuid        PRIMARY KEY,
    symbol      text        NOT NULL,
    name        text        NOT NULL,
    currency    text        NOT NULL,
    last_price  numeric(28, 10),
    price_date  date,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT security_symbol_key UNIQUE (symbol),
    -- Symbols are stored upper-cased: 1 to 12 of A-Z, 0-9, '.' and '-'.
    CONSTRAINT security_symbol_shape CHECK (symbol ~ '^[A-Z0-9.-]{1,12}$'),
    CONSTRAINT security_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    -- ISO 4217 alphabetic code.
    CONSTRAINT security_currency_code CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT security_last_price_nonnegative CHECK (last_price >= 0),
    -- A price is always known together with the day it was quoted.
    CONSTRAINT security_price_dated CHECK ((last_price IS NULL) = (price_date IS NULL))
);

-- +goose Down
DROP TABLE security;
