-- Margin accounts on the simulator: an account's kind (`spot` or
-- `margin`), a margin account's terms (JSON: leverage, maintenance,
-- borrow rate and period) and when borrow interest was last charged; and
-- what each balance owes (`borrowed`, a decimal string like `free`).
ALTER TABLE accounts ADD COLUMN kind TEXT NOT NULL DEFAULT 'spot' CHECK (kind IN ('spot', 'margin'));
ALTER TABLE accounts ADD COLUMN margin TEXT;
ALTER TABLE accounts ADD COLUMN borrow_charged_ms INTEGER;
ALTER TABLE balances ADD COLUMN borrowed TEXT NOT NULL DEFAULT '0';
ALTER TABLE bot_balances ADD COLUMN borrowed TEXT NOT NULL DEFAULT '0';
