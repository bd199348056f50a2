-- The rest of the domain's rules for stored values that the database can
-- hold, so that a row written by another tool (psql, a script, an older
-- program) is one folio can load:
--
-- - names: no control characters (U+0000 to U+001F, U+007F to U+009F),
--   and no white space at either end as Unicode defines it (the no-break
--   space, the ideographic space and the like, not only the ASCII space
--   btrim removes);
-- - numbers: not NaN, which NUMERIC allows and every comparison in the
--   older checks lets through ('NaN' > 0 is true);
-- - days: from 1900-01-01 to 9999-12-31, the domain's calendar (no
--   infinity, no year 10000 or BC).
--
-- Names stored before are rewritten, as in 00007, 00009 and 00010: each
-- control character becomes a space, the white space at either end goes,
-- the name is normalized to NFC last, "unnamed" if nothing is left, and a
-- portfolio name that would equal another's gets its id's last 12
-- characters in parentheses after it; a portfolio whose name changes gets a
-- new version. A NaN or a day out of range has no such repair: the
-- migration then fails on the constraint the row breaks, and the schema
-- stays at the version before it; correct or delete the row and migrate
-- again.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION pg_temp.folio_clean_name(name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(nullif(normalize(regexp_replace(regexp_replace(name,
        U&'[\0001-\001F\007F-\009F]', ' ', 'g'),
        U&'^[\0020\0085\00A0\1680\2000-\200A\202F\205F\3000]+|[\0020\0085\00A0\1680\2000-\200A\202F\205F\3000]+$', '', 'g'),
        NFC), ''), 'unnamed')
$$;
-- +goose StatementEnd

-- Every name is cleaned once (a clean name cleans to itself). A name that
-- changes takes the suffix when another portfolio's name cleans to the
-- same, or when it came out longer than a name may be (as in 00007). A
-- join, not a scan of the table per changed row (which took minutes on
-- 20,000 portfolios).
WITH cleaned AS MATERIALIZED (
    SELECT id, name, pg_temp.folio_clean_name(name) AS clean FROM portfolio
), counted AS (
    SELECT id, name, clean, count(*) OVER (PARTITION BY clean) AS same FROM cleaned
)
UPDATE portfolio AS p
SET name = CASE
        WHEN c.same > 1 OR char_length(c.clean) > 100
        THEN left(c.clean, 85) || ' (' || right(p.id::text, 12) || ')'
        ELSE c.clean
    END,
    version = p.version + 1,
    updated_at = now()
FROM counted AS c
WHERE c.id = p.id AND c.name <> c.clean;

-- A security name that came out longer than 200 characters is cut, and
-- ends in an ellipsis to say so.
UPDATE security AS s
SET name = CASE WHEN char_length(c.clean) > 200 THEN left(c.clean, 199) || '…' ELSE c.clean END,
    updated_at = now()
FROM (SELECT id, name, pg_temp.folio_clean_name(name) AS clean FROM security) AS c
WHERE c.id = s.id AND c.name <> c.clean;

DROP FUNCTION pg_temp.folio_clean_name(text);

-- (The ASCII space is portfolio_name_trimmed's, which 00002 added.)
ALTER TABLE portfolio ADD CONSTRAINT portfolio_name_plain CHECK (
    name !~ U&'[\0001-\001F\007F-\009F]'
    AND name !~ U&'^[\0085\00A0\1680\2000-\200A\202F\205F\3000]|[\0085\00A0\1680\2000-\200A\202F\205F\3000]$'
);

ALTER TABLE security ADD CONSTRAINT security_name_plain CHECK (
    name !~ U&'[\0001-\001F\007F-\009F]'
    AND name !~ U&'^[\0020\0085\00A0\1680\2000-\200A\202F\205F\3000]|[\0020\0085\00A0\1680\2000-\200A\202F\205F\3000]$'
);

ALTER TABLE investment
    ADD CONSTRAINT investment_numbers_not_nan CHECK (quantity <> 'NaN' AND unit_cost <> 'NaN'),
    ADD CONSTRAINT investment_acquired_on_range CHECK (acquired_on BETWEEN '1900-01-01' AND '9999-12-31');

ALTER TABLE security
    ADD CONSTRAINT security_last_price_not_nan CHECK (last_price <> 'NaN'),
    ADD CONSTRAINT security_price_date_range CHECK (price_date BETWEEN '1900-01-01' AND '9999-12-31');

-- +goose Down
ALTER TABLE security
    DROP CONSTRAINT security_price_date_range,
    DROP CONSTRAINT security_last_price_not_nan,
    DROP CONSTRAINT security_name_plain;

ALTER TABLE investment
    DROP CONSTRAINT investment_acquired_on_range,
    DROP CONSTRAINT investment_numbers_not_nan;

ALTER TABLE portfolio DROP CONSTRAINT portfolio_name_plain;
