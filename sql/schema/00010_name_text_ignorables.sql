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

UPDATE portfolio AS p
SET name = CASE
        WHEN EXISTS (SELECT 1 FROM portfolio AS q
                     WHERE q.id <> p.id
                       AND (q.name = pg_temp.folio_clean_name(p.name)
                            OR pg_temp.folio_clean_name(q.name) = pg_temp.folio_clean_name(p.name)))
        THEN left(pg_temp.folio_clean_name(p.name), 85) || ' (' || right(p.id::text, 12) || ')'
        ELSE pg_temp.folio_clean_name(p.name)
    END,
    version = version + 1,
    updated_at = now()
WHERE name ~ U&'[\034F\17B4\17B5\2065\FFF0-\FFF8\+01BCA0-\+01BCA3\+01D173-\+01D17A\+0E0000-\+0E001F\+0E0080-\+0E00FF\+0E01F0-\+0E0FFF]';

UPDATE security
SET name = pg_temp.folio_clean_name(name), updated_at = now()
WHERE name ~ U&'[\034F\17B4\17B5\2065\FFF0-\FFF8\+01BCA0-\+01BCA3\+01D173-\+01D17A\+0E0000-\+0E001F\+0E0080-\+0E00FF\+0E01F0-\+0E0FFF]';

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
