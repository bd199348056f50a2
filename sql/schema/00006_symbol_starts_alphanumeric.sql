-- A symbol begins with a letter or a digit. Symbols made only of dots and
-- dashes were accepted before: "." and ".." are path segments that URL
-- resolution removes (a client cannot address /securities/../price), and no
-- exchange lists a symbol that begins with a dot or a dash. Fails, naming
-- the constraint, if the table holds such a symbol: rename it first.

-- +goose Up
ALTER TABLE security
    DROP CONSTRAINT security_symbol_shape,
    ADD CONSTRAINT security_symbol_shape CHECK (symbol ~ '^[A-Z0-9][A-Z0-9.-]{0,11}$');

-- +goose Down
ALTER TABLE security
    DROP CONSTRAINT security_symbol_shape,
    ADD CONSTRAINT security_symbol_shape CHECK (symbol ~ '^[A-Z0-9.-]{1,12}$');
