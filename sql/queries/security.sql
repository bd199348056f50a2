-- Writes to existing securities check their row counts with folio_assert,
-- like those in portfolio.sql.

-- name: GetSecurity :one
SELECT * FROM security
WHERE id = @id;

-- name: GetSecurityBySymbol :one
SELECT * FROM security
WHERE symbol = @symbol;

-- name: GetSecuritiesByIDs :many
SELECT * FROM security
WHERE id = ANY(@ids::uuid[]);

-- name: GetSecuritiesBySymbols :many
SELECT * FROM security
WHERE symbol = ANY(@symbols::text[]);

-- name: GetSecuritiesOfPortfolios :many
-- The securities held by the given portfolios: sent in the same pipeline as
-- the portfolios and their lots, it needs no ids from their results.
SELECT * FROM security
WHERE id IN (
    SELECT security_id FROM investment
    WHERE portfolio_id = ANY(@portfolio_ids::uuid[])
);

-- name: GetSecuritiesOfPortfolio :many
-- GetSecuritiesOfPortfolios for one portfolio (see ListInvestmentsByPortfolio).
SELECT * FROM security
WHERE id IN (
    SELECT security_id FROM investment
    WHERE portfolio_id = @portfolio_id
);

-- name: ListSecurities :many
-- Keyset pagination by symbol: pass the last symbol of the previous page as
-- after (NULL for the first page).
SELECT * FROM security
WHERE sqlc.narg(after)::text IS NULL OR symbol > sqlc.narg(after)::text
ORDER BY symbol
LIMIT @page_size;

-- name: InsertSecurity :exec
INSERT INTO security (id, symbol, name, currency, last_price, price_date)
VALUES (@id, @symbol, @name, @currency, @last_price, @price_date);

-- name: UpdateSecurityName :exec
WITH updated AS (
    UPDATE security
    SET name = @name, updated_at = now()
    WHERE id = @id
    RETURNING 1
)
SELECT folio_assert(count(*) = 1, 'security deleted concurrently')
FROM updated;

-- name: UpdateSecurityPrice :exec
WITH updated AS (
    UPDATE security
    SET last_price = @last_price, price_date = @price_date, updated_at = now()
    WHERE id = @id
    RETURNING 1
)
SELECT folio_assert(count(*) = 1, 'security deleted concurrently')
FROM updated;

-- name: UpdateSecurityPrices :exec
-- Revalues many securities, named by symbol, in one statement; fails if a
-- symbol is unknown. Symbols must be distinct.
WITH updated AS (
    UPDATE security AS s
    SET last_price = u.price, price_date = u.price_date, updated_at = now()
    FROM (SELECT unnest(@symbols::text[]) AS symbol,
                 unnest(@prices::numeric[]) AS price,
                 unnest(@price_dates::date[]) AS price_date) AS u
    WHERE s.symbol = u.symbol
    RETURNING 1
)
SELECT folio_assert(count(*) = cardinality(@symbols::text[]), 'unknown security symbol')
FROM updated;

-- name: DeleteSecurity :exec
-- Fails with foreign_key_violation while lots hold the security.
WITH deleted AS (
    DELETE FROM security
    WHERE id = @id
    RETURNING 1
)
SELECT folio_assert(count(*) = 1, 'security deleted concurrently')
FROM deleted;

-- name: GetSecuritiesOfPortfolioByName :many
-- The securities held by the portfolio with this name, for the same
-- pipeline as GetPortfolioByName.
SELECT * FROM security
WHERE id IN (
    SELECT i.security_id FROM investment AS i
    JOIN portfolio AS p ON p.id = i.portfolio_id
    WHERE p.name = @name
);
