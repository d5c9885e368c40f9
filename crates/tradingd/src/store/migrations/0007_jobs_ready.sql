-- Claiming looks for the best due job of each kind that may run, one
-- priority level at a time: each step is an index seek, whatever the
-- size of the queue. (jobs_due, ordered by priority first, made the
-- planner sort or scan every queued job when the first ones were not due.)
DROP INDEX jobs_due;
CREATE INDEX jobs_ready ON jobs (kind, priority, run_at_ms, id) WHERE state = 'queued';
-- jobs.stats reads the last hour's finished jobs.
CREATE INDEX jobs_finished ON jobs (finished_ms) WHERE finished_ms IS NOT NULL;
