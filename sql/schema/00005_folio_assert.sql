-- folio_assert makes a plain SQL statement fail on purpose. folio sends a
-- unit of work's writes and its COMMIT in one pipeline, so a write that finds
-- the wrong number of rows (a portfolio whose version moved on, a lot another
-- transaction deleted) cannot just report a count: by the time the client
-- reads it, COMMIT has run. Raising an error instead aborts the transaction,
-- and the server skips everything after it in the pipeline, COMMIT included.
-- The SQLSTATE FOL01 is folio's own; clients map it back to a conflict.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION folio_assert(ok boolean, message text) RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = 'FOL01', MESSAGE = message;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION folio_assert(boolean, text);
