-- A portfolio is the aggregate root: its investments are saved and deleted
-- with it, and every change to it or to them bumps its version.

-- +goose Up
CREATE TABLE portfolio (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL,
    currency    text        NOT NULL,
    -- Optimistic concurrency: every write checks and increments it.
    version     bigint      NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT portfolio_name_key UNIQUE (name),
    CONSTRAINT portfolio_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT portfolio_name_trimmed CHECK (name = btrim(name)),
    CONSTRAINT portfolio_currency_code CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT portfolio_version_positive CHECK (version > 0)
);

-- +goose Down
DROP TABLE portfolio;
