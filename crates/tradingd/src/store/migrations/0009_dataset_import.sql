-- A dataset being imported is written chunk by chunk and stays hidden
-- until its last chunk and summary are in; one left half-written by a
-- crash is deleted at start. The job that imports it is recorded, so that
-- a job run again after a crash (jobs are at-least-once) finds the
-- dataset it already finished instead of importing it twice.
ALTER TABLE datasets ADD COLUMN importing INTEGER NOT NULL DEFAULT 0;
ALTER TABLE datasets ADD COLUMN job_id INTEGER;
