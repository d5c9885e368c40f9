//! Client order ids: `<prefix>-<seq>-<role>`, numbered without formatting
//! on the hot path.

use super::Engine;
use crate::portfolio::Role;

impl Engine {
    /// The next client order id: `<prefix>-<seq>-<role code>[key]`
    /// (written by hand: a backtest makes one per order).
    #[inline]
    pub(super) fn tag(&mut self, role: &Role) -> String {
        let key = match role {
            Role::Keyed(k) => k.as_str(),
            _ => "",
        };
        let mut t = String::with_capacity(
            self.cfg
                .prefix
                .len()
                .saturating_add(24)
                .saturating_add(key.len()),
        );
        t.push_str(&self.cfg.prefix);
        t.push('-');
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut n = self.seq;
        loop {
            // 20 places hold every u64: `at` never passes zero.
            at = at.saturating_sub(1);
            digits[at] = b'0'.saturating_add((n % 10) as u8);
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for &d in &digits[at..] {
            t.push(char::from(d));
        }
        t.push('-');
        t.push_str(role.code());
        t.push_str(key);
        self.seq = self.seq.saturating_add(1);
        t
    }
}
