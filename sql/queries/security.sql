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
-- Securities whose name or symbol contains name_contains (case-insensitive,
-- as ListPortfolios matches names; LIKE wildcards in it match literally),
-- in symbol order, one page at a time: pass the last symbol of the previous
-- page as after (NULL for the first page).
SELECT * FROM security
WHERE (sqlc.narg(name_contains)::text IS NULL
       OR normalize(lower(name), NFC) LIKE '%' || replace(replace(replace(normalize(lower(sqlc.narg(name_contains)::text), NFC),
              '\', '\\'), '%', '\%'), '_', '\_') || '%'
       OR lower(symbol) LIKE '%' || replace(replace(replace(lower(sqlc.narg(name_contains)::text),
              '\', '\\'), '%', '\%'), '_', '\_') || '%')
  AND (sqlc.narg(after)::text IS NULL OR symbol > sqlc.narg(after)::text)
ORDER BY symbol
LIMIT @page_size;

-- name: InsertSecurity :exec
INSERT INTO security (id, symbol, name, currency, last_price, price_date)
VALUES (@id, @symbol, @name, @currency, @last_price, @price_date);

-- name: UpdateSecurityName :exec
-- Renames a security if its name is still the one the caller read (a
-- security has no version: its columns are compared instead), so that a
-- concurrent change is a conflict, not overwritten, at READ COMMITTED too.
WITH updated AS (
    UPDATE security
    SET name = @name, updated_at = now()
    WHERE id = @id AND name = @old_name
    RETURNING 1
)
SELECT folio_assert(count(*) = 1, 'security changed or deleted concurrently')
FROM updated;

-- name: UpdateSecurityPrice :exec
-- Sets a security's price if its price and date are still the ones the
-- caller read (see UpdateSecurityName).
WITH updated AS (
    UPDATE security
    SET last_price = @last_price, price_date = @price_date, updated_at = now()
    WHERE id = @id
      AND last_price IS NOT DISTINCT FROM sqlc.narg(old_price)::numeric
      AND price_date IS NOT DISTINCT FROM sqlc.narg(old_price_date)::date
    RETURNING 1
)
SELECT folio_assert(count(*) = 1, 'security changed or deleted concurrently')
FROM updated;

-- name: UpdateSecurityPricesByID :exec
-- UpdateSecurityPrice for many securities in one statement. had_prices
-- says whether each had a price when read; where it had none, its
-- old_prices and old_price_dates are placeholders, not compared. IDs must
-- be distinct.
WITH updated AS (
    UPDATE security AS s
    SET last_price = u.price, price_date = u.price_date, updated_at = now()
    FROM (SELECT unnest(@ids::uuid[]) AS id,
                 unnest(@prices::numeric[]) AS price,
                 unnest(@price_dates::date[]) AS price_date,
                 unnest(@had_prices::boolean[]) AS had_price,
                 unnest(@old_prices::numeric[]) AS old_price,
                 unnest(@old_price_dates::date[]) AS old_price_date) AS u
    WHERE s.id = u.id
      AND CASE WHEN u.had_price
               THEN s.last_price = u.old_price AND s.price_date = u.old_price_date
               ELSE s.last_price IS NULL AND s.price_date IS NULL
          END
    RETURNING 1
)
SELECT folio_assert(count(*) = cardinality(@ids::uuid[]), 'security changed or deleted concurrently')
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
