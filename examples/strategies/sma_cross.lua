-- The built-in `sma_cross`, as a Lua strategy: enter on the bar where
-- SMA(fast) crosses above SMA(slow), exit on the bar where it crosses
-- below (strictly: equality is not a cross). The averages are the
-- daemon's own (ta.sma), so the result is the built-in's to the cent.

summary = "Moving-average crossover on simple moving averages (Lua)."
rules = "Enter (market buy) on the bar where SMA(fast) crosses above SMA(slow): " ..
        "fast[i-1] < slow[i-1] and fast[i] > slow[i]. Exit on the bar where it crosses below."

params = {
  { name = "fast", type = "int", default = 10, min = 1, max = 1000,
    description = "Period of the fast average, in bars" },
  { name = "slow", type = "int", default = 20, min = 2, max = 5000,
    description = "Period of the slow average, in bars" },
}

local prev

function init(p)
  if p.fast >= p.slow then
    error("fast (" .. p.fast .. ") must be less than slow (" .. p.slow .. ")")
  end
  -- Bound to the closes: the daemon updates both averages before each bar
  -- and passes them to on_bar after volume (nil until they have a value).
  ta.bind("sma", "close", p.fast)
  ta.bind("sma", "close", p.slow)
  return p.slow + 1, p.slow   -- warm-up bars, bars until the first signal
end

function on_bar(time, open, high, low, close, volume, f, s)
  if not f or not s then return end
  local now = (f < s and -1) or (f > s and 1) or 0
  if prev == -1 and now == 1 then
    log("fast average crossed above the slow one")
    enter()
  elseif prev == 1 and now == -1 then
    log("fast average crossed below the slow one")
    exit()
  end
  prev = now
end
