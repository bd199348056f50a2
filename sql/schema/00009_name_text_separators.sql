-- More characters names may not hold, as the domain refuses them: the line
-- and paragraph separators (line breaks in a one-line name), the Hangul
-- fillers, the interlinear annotation characters and the deprecated format
-- characters (all invisible: two names that look the same would differ).
-- The migration fails, and changes nothing, if a stored name holds one:
-- rename it first (folio still loads such names).

-- +goose Up
ALTER TABLE portfolio
    DROP CONSTRAINT portfolio_name_text,
    ADD CONSTRAINT portfolio_name_text CHECK (
        name IS NFC NORMALIZED
        AND name !~ U&'[\00AD\061C\115F\1160\180E\200B\2028\2029\2060-\2064\202A-\202E\2066-\206F\3164\FEFF\FFA0\FFF9-\FFFB]'
    );

ALTER TABLE security
    DROP CONSTRAINT security_name_text,
    ADD CONSTRAINT security_name_text CHECK (
        name IS NFC NORMALIZED
        AND name !~ U&'[\00AD\061C\115F\1160\180E\200B\2028\2029\2060-\2064\202A-\202E\2066-\206F\3164\FEFF\FFA0\FFF9-\FFFB]'
    );

-- +goose Down
ALTER TABLE security
    DROP CONSTRAINT security_name_text,
    ADD CONSTRAINT security_name_text CHECK (
        name IS NFC NORMALIZED
        AND name !~ U&'[\00AD\061C\180E\200B\2060-\2064\202A-\202E\2066-\2069\FEFF]'
    );

ALTER TABLE portfolio
    DROP CONSTRAINT portfolio_name_text,
    ADD CONSTRAINT portfolio_name_text CHECK (
        name IS NFC NORMALIZED
        AND name !~ U&'[\00AD\061C\180E\200B\2060-\2064\202A-\202E\2066-\2069\FEFF]'
    );
