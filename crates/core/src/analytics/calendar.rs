//! Calendar periods of an equity curve: days, weeks, months, years, and the
//! monthly returns table.

use super::DAY_MS;
use crate::time::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MonthReturn {
    /// `YYYY-MM`.
    pub month: String,
    pub return_pct: f64,
}

/// The resampling period of a series of bar times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Period {
    Day,
    Week,
    Month,
    Year,
}

/// The civil (proleptic Gregorian) year and month (1–12) of a day
/// number counted from 1970-01-01 (Howard Hinnant's `civil_from_days`);
/// integer arithmetic only, as it runs once per bar.
pub(super) fn year_month(days: i64) -> (i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

/// Monday 0 … Sunday 6 (1970-01-01 was a Thursday).
pub(super) fn weekday(days: i64) -> i64 {
    (days + 3).rem_euclid(7)
}

impl Period {
    pub(super) fn key(self, t: Timestamp) -> i64 {
        let days = t.millis().div_euclid(DAY_MS);
        match self {
            Period::Day => days,
            // +3 starts weeks on Monday.
            Period::Week => (days + 3).div_euclid(7),
            Period::Month => {
                let (y, m) = year_month(days);
                y * 12 + m - 1
            }
            Period::Year => year_month(days).0,
        }
    }
}
