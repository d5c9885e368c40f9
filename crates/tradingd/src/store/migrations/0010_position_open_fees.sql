-- The entry fees of a position's open quantity, so that realized and
-- unrealized PnL can both be shown after fees. Positions opened before
-- this migration start at zero (their fees stay counted in `fees`).
ALTER TABLE positions ADD COLUMN open_fees TEXT NOT NULL DEFAULT '0';
ALTER TABLE bot_positions ADD COLUMN open_fees TEXT NOT NULL DEFAULT '0';
