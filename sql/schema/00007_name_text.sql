-- Names are stored in Unicode normalization form C and without the
-- invisible characters that reorder or hide text: the rules folio applies
-- to input (the tracker normalizes names; the domain refuses those
-- characters), held by the database as well, so that two names that look
-- the same are the same name. A row that changes here gets a new version,
-- like any other change.
--
-- Names stored before are rewritten rather than refused, so that an
-- upgrade never stops here: without those characters, trimmed, and then
-- normalized (a zero-width space between a letter and an accent kept them
-- apart); "unnamed" if nothing is left; and a portfolio name that would
-- then equal another's gets its id's last 12 characters (the random ones
-- of a UUIDv7) in parentheses after it.

-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION pg_temp.folio_clean_name(name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(nullif(normalize(btrim(regexp_replace(name,
        U&'[\00AD\061C\180E\200B\2060-\2064\202A-\202E\2066-\2069\FEFF]', '', 'g')), NFC), ''), 'unnamed')
$$;
-- +goose StatementEnd

-- Every name is cleaned once (a clean name cleans to itself). A name that
-- changes takes the suffix when another portfolio's name cleans to the
-- same, or when it came out longer than a name may be (NFC can lengthen a
-- name: U+0958 becomes two characters). A join, not a scan of the table per
-- changed row, which took minutes on 20,000 portfolios.
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
FROM (SELECT id, pg_temp.folio_clean_name(name) AS clean FROM security
      WHERE name IS NOT NFC NORMALIZED
         OR name ~ U&'[\00AD\061C\180E\200B\2060-\2064\202A-\202E\2066-\2069\FEFF]') AS c
WHERE c.id = s.id;

-- The session may go on (goose runs the migrations on one connection).
DROP FUNCTION pg_temp.folio_clean_name(text);

-- The characters: soft hyphen, Arabic letter mark, Mongolian vowel
-- separator, zero-width space, word joiner and invisible operators,
-- bidirectional embeddings, overrides and isolates, byte order mark.
ALTER TABLE portfolio ADD CONSTRAINT portfolio_name_text CHECK (
    name IS NFC NORMALIZED
    AND name !~ U&'[\00AD\061C\180E\200B\2060-\2064\202A-\202E\2066-\2069\FEFF]'
);

ALTER TABLE security ADD CONSTRAINT security_name_text CHECK (
    name IS NFC NORMALIZED
    AND name !~ U&'[\00AD\061C\180E\200B\2060-\2064\202A-\202E\2066-\2069\FEFF]'
);

-- +goose Down
ALTER TABLE security DROP CONSTRAINT security_name_text;
ALTER TABLE portfolio DROP CONSTRAINT portfolio_name_text;
