-- Every write here that targets existing rows checks how many it touched
-- with folio_assert (see sql/schema/00005_folio_assert.sql): a mismatch
-- aborts the transaction, so a COMMIT pipelined after it never commits a
-- partial flush.

-- name: GetPortfolio :one
SELECT * FROM portfolio
WHERE id = @id;

-- name: GetPortfolioByName :one
SELECT * FROM portfolio
WHERE name = @name;

-- name: GetPortfoliosByIDs :many
SELECT * FROM portfolio
WHERE id = ANY(@ids::uuid[]);

-- name: GetPortfolioForUpdate :one
-- GetPortfolio, locking the row until the transaction ends. FOR NO KEY
-- UPDATE is the lock an UPDATE of the row takes: it excludes other writers
-- and lockers of the row, and lets foreign key checks of lots being added
-- elsewhere through (their units then wait at the version bump).
SELECT * FROM portfolio
WHERE id = @id
FOR NO KEY UPDATE;

-- name: GetPortfolioByNameForUpdate :one
SELECT * FROM portfolio
WHERE name = @name
FOR NO KEY UPDATE;

-- name: GetPortfoliosByIDsForUpdate :many
-- GetPortfoliosByIDs, locking the rows in id order, the order every unit
-- locks portfolio rows in (see BumpPortfolioVersions).
SELECT * FROM portfolio
WHERE id = ANY(@ids::uuid[])
ORDER BY id
FOR NO KEY UPDATE;

-- name: ListPortfolios :many
-- Portfolios whose name contains name_contains (case-insensitive: both are
-- lower-cased, then normalized to NFC, which lower() can undo; LIKE
-- wildcards in it match literally), in name order, one page at a time: pass
-- the last name of the previous page as after (NULL for the first page).
SELECT * FROM portfolio
WHERE (sqlc.narg(name_contains)::text IS NULL
       OR normalize(lower(name), NFC) LIKE '%' || replace(replace(replace(normalize(lower(sqlc.narg(name_contains)::text), NFC),
              '\', '\\'), '%', '\%'), '_', '\_') || '%')
  AND (sqlc.narg(after)::text IS NULL OR name > sqlc.narg(after)::text)
ORDER BY name
LIMIT @page_size;

-- name: InsertPortfolio :exec
INSERT INTO portfolio (id, name, currency, last_sale_on, version)
VALUES (@id, @name, @currency, sqlc.narg(last_sale_on), 1);

-- name: BumpPortfolioVersion :exec
-- Optimistic concurrency for a portfolio whose lots changed: increments the
-- version if it is still the one loaded, and fails with FOL01 if another
-- transaction changed or deleted the portfolio since. A sale that moved the
-- day of the latest sale passes it as last_sale_on; NULL keeps the day.
-- :exec with folio_assert rather than :execrows: the unit of work sends its
-- writes and COMMIT in one pipeline, and a row count read by the client
-- would come after the COMMIT had run (see 00005_folio_assert.sql).
WITH bumped AS (
    UPDATE portfolio
    SET version = version + 1, last_sale_on = coalesce(sqlc.narg(last_sale_on), last_sale_on), updated_at = now()
    WHERE id = @id AND version = @version
    RETURNING 1
)
SELECT folio_assert(count(*) = 1, 'portfolio changed or deleted concurrently')
FROM bumped;

-- name: BumpPortfolioVersions :exec
-- BumpPortfolioVersion for many portfolios in one statement: versions[i] is
-- the version ids[i] was loaded with, and where sold[i] is true,
-- last_sales_on[i] is the day of its latest sale (else a day to ignore).
-- The rows are locked in id order first, the order in which one statement
-- per portfolio would lock them, so two units bumping overlapping sets wait
-- for each other instead of deadlocking.
WITH locked AS (
    SELECT p.id, b.sold, b.last_sale_on
    FROM portfolio AS p
    JOIN (SELECT unnest(@ids::uuid[]) AS id, unnest(@versions::bigint[]) AS version,
                 unnest(@sold::boolean[]) AS sold, unnest(@last_sales_on::date[]) AS last_sale_on) AS b
      ON p.id = b.id AND p.version = b.version
    ORDER BY p.id
    FOR NO KEY UPDATE OF p
), bumped AS (
    UPDATE portfolio AS p
    SET version = p.version + 1,
        last_sale_on = CASE WHEN locked.sold THEN locked.last_sale_on ELSE p.last_sale_on END,
        updated_at = now()
    FROM locked
    WHERE p.id = locked.id
    RETURNING 1
)
SELECT folio_assert(count(*) = cardinality(@ids::uuid[]), 'portfolio changed or deleted concurrently')
FROM bumped;

-- name: UpdatePortfolioName :exec
-- Renames a portfolio, with the version check of BumpPortfolioVersion, and
-- its last_sale_on.
WITH renamed AS (
    UPDATE portfolio
    SET name = @name, version = version + 1, last_sale_on = coalesce(sqlc.narg(last_sale_on), last_sale_on),
        updated_at = now()
    WHERE id = @id AND version = @version
    RETURNING 1
)
SELECT folio_assert(count(*) = 1, 'portfolio changed or deleted concurrently')
FROM renamed;

-- name: DeletePortfolio :exec
-- Deletes a portfolio and, by ON DELETE CASCADE, its lots, with the version
-- check of BumpPortfolioVersion.
WITH deleted AS (
    DELETE FROM portfolio
    WHERE id = @id AND version = @version
    RETURNING 1
)
SELECT folio_assert(count(*) = 1, 'portfolio changed or deleted concurrently')
FROM deleted;

-- name: DeferPortfolioNameCheck :exec
-- Checks the uniqueness of portfolio names at CheckPortfolioNames instead
-- of after every statement, so that the renames of one flush may pass a
-- name from one portfolio to another, or swap two names. (ALL: sqlc does
-- not know constraint names. portfolio_name_key is the one deferrable
-- constraint; TestOnlyTheNameKeyIsDeferrable keeps it so.)
SET CONSTRAINTS ALL DEFERRED;

-- name: CheckPortfolioNames :exec
-- Checks the names written since DeferPortfolioNameCheck, and every later
-- statement's again.
SET CONSTRAINTS ALL IMMEDIATE;
