-- Writes to existing lots check their row counts with folio_assert, like
-- those in portfolio.sql.

-- name: ListInvestmentsByPortfolioIDs :many
-- The lots of many portfolios in one statement, in FIFO order per portfolio.
SELECT id, portfolio_id, security_id, quantity, unit_cost, acquired_on FROM investment
WHERE portfolio_id = ANY(@portfolio_ids::uuid[])
ORDER BY portfolio_id, acquired_on, id;

-- name: ListInvestmentsByPortfolio :many
-- The lots of one portfolio. Loading one portfolio is the common case, and
-- PostgreSQL keeps a generic plan for "= $1" where it plans "= ANY($1)"
-- afresh on every execution.
SELECT id, portfolio_id, security_id, quantity, unit_cost, acquired_on FROM investment
WHERE portfolio_id = @portfolio_id
ORDER BY acquired_on, id;

-- name: ListInvestmentsByPortfolioName :many
-- The lots of the portfolio with this name: sent in the same pipeline as
-- GetPortfolioByName, it needs no id from that result.
SELECT i.id, i.portfolio_id, i.security_id, i.quantity, i.unit_cost, i.acquired_on FROM investment AS i
JOIN portfolio AS p ON p.id = i.portfolio_id
WHERE p.name = @name
ORDER BY i.acquired_on, i.id;

-- name: ListInvestmentsForPortfolioList :many
-- The lots of the page ListPortfolios returns for the same arguments, so that
-- both go out in one pipeline.
SELECT i.id, i.portfolio_id, i.security_id, i.quantity, i.unit_cost, i.acquired_on FROM investment AS i
WHERE i.portfolio_id IN (
    SELECT p.id FROM portfolio AS p
    WHERE (sqlc.narg(name_contains)::text IS NULL
           OR normalize(lower(p.name), NFC) LIKE '%' || replace(replace(replace(normalize(lower(sqlc.narg(name_contains)::text), NFC),
                  '\', '\\'), '%', '\%'), '_', '\_') || '%')
      AND (sqlc.narg(after)::text IS NULL OR p.name > sqlc.narg(after)::text)
    ORDER BY p.name
    LIMIT @page_size
)
ORDER BY i.portfolio_id, i.acquired_on, i.id;

-- name: InsertInvestment :exec
INSERT INTO investment (id, portfolio_id, security_id, quantity, unit_cost, acquired_on)
VALUES (@id, @portfolio_id, @security_id, @quantity, @unit_cost, @acquired_on);

-- name: InsertInvestments :exec
-- Many lots in one statement: the rows travel as parallel arrays, so the
-- statement can ride in a pipeline, which COPY cannot. Set-returning
-- functions in one select list advance in lockstep; arrays of unequal length
-- pad with NULLs, which the NOT NULL columns refuse.
INSERT INTO investment (id, portfolio_id, security_id, quantity, unit_cost, acquired_on)
SELECT unnest(@ids::uuid[]), unnest(@portfolio_ids::uuid[]), unnest(@security_ids::uuid[]),
       unnest(@quantities::numeric[]), unnest(@unit_costs::numeric[]), unnest(@acquired_ons::date[]);

-- name: UpdateInvestmentQuantity :exec
WITH updated AS (
    UPDATE investment
    SET quantity = @quantity, updated_at = now()
    WHERE id = @id
    RETURNING 1
)
SELECT folio_assert(count(*) = 1, 'lot changed or deleted concurrently')
FROM updated;

-- name: UpdateInvestmentQuantities :exec
-- Many quantity changes in one statement.
WITH updated AS (
    UPDATE investment AS i
    SET quantity = u.quantity, updated_at = now()
    FROM (SELECT unnest(@ids::uuid[]) AS id, unnest(@quantities::numeric[]) AS quantity) AS u
    WHERE i.id = u.id
    RETURNING 1
)
SELECT folio_assert(count(*) = cardinality(@ids::uuid[]), 'lot changed or deleted concurrently')
FROM updated;

-- name: DeleteInvestments :exec
-- Removes lots that left their portfolio (delete-orphan), all in one statement.
WITH deleted AS (
    DELETE FROM investment
    WHERE id = ANY(@ids::uuid[])
    RETURNING 1
)
SELECT folio_assert(count(*) = cardinality(@ids::uuid[]), 'lot changed or deleted concurrently')
FROM deleted;
