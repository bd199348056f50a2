-- Revaluing sets new prices on many securities at once, often all of
-- them. An update that finds room on the row's page is a HOT update: no
-- index gets a new entry, which matters since 00014 gave the table two
-- trigram (GIN) indexes. Pages filled to half leave room for a new
-- version of every row on them. Revaluing 10,000 securities, eight times
-- over, took 200 to 280 ms each with full pages (465 of 80,000 updates
-- HOT), 100 to 145 ms without the GIN indexes, and 50 to 120 ms with them
-- and half-full pages (79,162 HOT). The table is twice the size; at about
-- 150 bytes a row, 10,000 securities take 3 MB.
--
-- The setting is instant (no rewrite, a lock that lets reads and writes
-- go on) and applies to pages written from now on. On a table filled
-- before it, the first revaluation is not HOT: each updated row moves to
-- a new, half-filled page, writing every index, and later ones are. The
-- pages it leaves stay allocated until VACUUM FULL (which locks the table
-- while it rewrites it) compacts them, if the space matters.

-- +goose Up
ALTER TABLE security SET (fillfactor = 50);

-- +goose Down
ALTER TABLE security RESET (fillfactor);
