-- Names are stored in Unicode normalization form C and without the
-- invisible characters that reorder or hide text: the rules folio applies
-- to input (the tracker normalizes names; the domain refuses those
-- characters), held by the database as well, so that two names that look
-- the same are the same name. A row that changes here gets a new version,
-- like any other change.
--
-- Names stored before are normalized. The migration fails, and changes
-- nothing, if a name normalized this way equals another portfolio's
-- (on portfolio_name_key), or if a name holds one of the characters (on
-- portfolio_name_text or security_name_text): rename those first. folio
-- still loads such names, so PATCH /portfolios/{id} can rename them.

-- +goose Up
UPDATE portfolio
SET name = normalize(name, NFC), version = version + 1, updated_at = now()
WHERE name IS NOT NFC NORMALIZED;

UPDATE security
SET name = normalize(name, NFC), updated_at = now()
WHERE name IS NOT NFC NORMALIZED;

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
