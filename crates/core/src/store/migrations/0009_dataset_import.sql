-- A dataset being imported is written chunk by chunk and stays hidden
-- until its last chunk and summary are in; one left half-written by a
-- crash is deleted at start.
ALTER TABLE datasets ADD COLUMN importing INTEGER NOT NULL DEFAULT 0;
