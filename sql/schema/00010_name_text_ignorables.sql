-- The rest of Unicode's default-ignorable characters, which display as
-- nothing, go the way of those 00007 and 00009 refuse: the combining
-- grapheme joiner, the Khmer inherent vowels (deprecated), the shorthand
-- and musical format controls, the language tag, and the code points
-- Unicode keeps unassigned for more of them. Allowed still, because
-- scripts and emoji need them: the joiners, the directional marks, the
-- variation selectors and the tag characters of flags.
--
-- Names stored before are rewritten rather than refused, as in 00009:
-- the characters go, the name is trimmed and normalized to NFC again,
-- "unnamed" if nothing is left,
-- and a portfolio name that would equal another's gets its id's last 12
-- characters in parentheses after it. A portfolio whose name changes gets
-- a new version.

-- +goose Up
-- +goose StatementBegin
-- Normalized again: a combining grapheme joiner keeps an accent from
-- combining, so "e", U+034F, U+0301 is in NFC, and "e", U+0301 is not.
CREATE OR REPLACE FUNCTION pg_temp.folio_clean_name(name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(nullif(normalize(btrim(regexp_replace(name,
        U&'[\034F\17B4\17B5\2065\FFF0-\FFF8\+01BCA0-\+01BCA3\+01D173-\+01D17A\+0E0000-\+0E001F\+0E0080-\+0E00FF\+0E01F0-\+0E0FFF]',
        '', 'g')), NFC), ''), 'unnamed')
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
      WHERE name ~ U&'[\034F\17B4\17B5\2065\FFF0-\FFF8\+01BCA0-\+01BCA3\+01D173-\+01D17A\+0E0000-\+0E001F\+0E0080-\+0E00FF\+0E01F0-\+0E0FFF]') AS c
WHERE c.id = s.id;

DROP FUNCTION pg_temp.folio_clean_name(text);

ALTER TABLE portfolio
    DROP CONSTRAINT portfolio_name_text,
    ADD CONSTRAINT portfolio_name_text CHECK (
        name IS NFC NORMALIZED
        AND name !~ U&'[\00AD\034F\061C\115F\1160\17B4\17B5\180E\200B\2028\2029\2060-\2065\202A-\202E\2066-\206F\3164\FEFF\FFA0\FFF0-\FFFB\+01BCA0-\+01BCA3\+01D173-\+01D17A\+0E0000-\+0E001F\+0E0080-\+0E00FF\+0E01F0-\+0E0FFF]'
    );

ALTER TABLE security
    DROP CONSTRAINT security_name_text,
    ADD CONSTRAINT security_name_text CHECK (
        name IS NFC NORMALIZED
        AND name !~ U&'[\00AD\034F\061C\115F\1160\17B4\17B5\180E\200B\2028\2029\2060-\2065\202A-\202E\2066-\206F\3164\FEFF\FFA0\FFF0-\FFFB\+01BCA0-\+01BCA3\+01D173-\+01D17A\+0E0000-\+0E001F\+0E0080-\+0E00FF\+0E01F0-\+0E0FFF]'
    );

-- +goose Down
ALTER TABLE security
    DROP CONSTRAINT security_name_text,
    ADD CONSTRAINT security_name_text CHECK (
        name IS NFC NORMALIZED
        AND name !~ U&'[\00AD\061C\115F\1160\180E\200B\2028\2029\2060-\2064\202A-\202E\2066-\206F\3164\FEFF\FFA0\FFF9-\FFFB]'
    );

ALTER TABLE portfolio
    DROP CONSTRAINT portfolio_name_text,
    ADD CONSTRAINT portfolio_name_text CHECK (
        name IS NFC NORMALIZED
        AND name !~ U&'[\00AD\061C\115F\1160\180E\200B\2028\2029\2060-\2064\202A-\202E\2066-\206F\3164\FEFF\FFA0\FFF9-\FFFB]'
    );
