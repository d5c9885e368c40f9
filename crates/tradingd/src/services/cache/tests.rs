use super::*;

#[test]
fn hits_misses_expiry_and_ttl() {
    let c = Cache::new(1 << 20);
    assert!(c.get::<String>(Namespace::User, "a", 0).is_none());
    c.put(Namespace::User, "a", "x".to_owned(), 1, Some(10), 1_000);
    assert_eq!(
        c.get::<String>(Namespace::User, "a", 5_000)
            .as_deref()
            .map(String::as_str),
        Some("x")
    );
    assert!(
        c.get::<u32>(Namespace::User, "a", 5_000).is_none(),
        "a different type is a miss"
    );
    assert!(
        c.get::<String>(Namespace::User, "a", 11_000).is_none(),
        "expired at 1 s + 10 s"
    );
    let s = c.stats(Namespace::User);
    assert_eq!((s.hits, s.misses, s.expirations, s.entries), (1, 3, 1, 0));
    assert_eq!(s.hit_rate, Some(0.25));
    assert_eq!(
        c.set_ttl_s(Namespace::User, 0),
        Err("must be between 1 and 2592000 seconds, got 0".into())
    );
    assert!(c.set_ttl_s(Namespace::User, MAX_TTL_S + 1).is_err());
    c.set_ttl_s(Namespace::User, 2).expect("ttl");
    c.put(Namespace::User, "b", 1_u32, 1, None, 0);
    assert!(c.get::<u32>(Namespace::User, "b", 1_999).is_some());
    assert!(c.get::<u32>(Namespace::User, "b", 2_000).is_none());
}

#[test]
fn the_budget_evicts_the_least_recently_used() {
    let c = Cache::new(10_000);
    for i in 0..10 {
        c.put(
            Namespace::User,
            &format!("k{i}"),
            i,
            900,
            None,
            i64::from(i),
        );
    }
    // Touch k0 so it is recent; then overflow.
    assert!(c.get::<i32>(Namespace::User, "k0", 100).is_some());
    c.put(Namespace::Ticker, "new", 1, 2_000, None, 101);
    assert!(c.total().bytes <= 9_000, "{:?}", c.total());
    assert!(
        c.get::<i32>(Namespace::User, "k0", 102).is_some(),
        "recently used stays"
    );
    assert!(
        c.get::<i32>(Namespace::User, "k1", 102).is_none(),
        "least recently used went"
    );
    assert!(c.get::<i32>(Namespace::Ticker, "new", 102).is_some());
    assert!(c.stats(Namespace::User).evictions >= 2);
}

#[test]
fn the_recency_queue_stays_bounded_and_evicts_in_order_of_use() {
    let c = Cache::new(100_000);
    // Replacing one key many times leaves stale slots behind; the
    // queue is compacted instead of growing with every write.
    for i in 0..20_000_i64 {
        c.put(Namespace::Ticker, "BTCUSDT", i, 100, None, i);
    }
    let queued = lock(&c.recency).queue.len();
    assert!(queued <= 2 * COMPACT_MIN, "{queued} slots for 1 entry");
    // Entries used after insertion outlive older untouched ones.
    let c = Cache::new(5_000);
    for i in 0..4 {
        c.put(
            Namespace::User,
            &format!("k{i}"),
            i,
            900,
            None,
            i64::from(i),
        );
    }
    assert!(c.get::<i32>(Namespace::User, "k1", 10).is_some());
    assert!(c.get::<i32>(Namespace::User, "k0", 11).is_some());
    c.put(Namespace::User, "k4", 4, 2_000, None, 12);
    let kept: Vec<bool> = (0..5)
        .map(|i| {
            c.get::<i32>(Namespace::User, &format!("k{i}"), 13)
                .is_some()
        })
        .collect();
    assert_eq!(
        kept,
        [true, true, false, false, true],
        "k2 and k3 were the least recently used"
    );
}

#[test]
fn a_value_worked_out_before_an_invalidation_is_not_stored() {
    let c = Cache::new(1 << 20);
    let epoch = c.epoch(Namespace::Analytics);
    // A write invalidates while the reader is still computing.
    c.delete_where(Namespace::Analytics, |k| k.starts_with("bot:1:"));
    c.put_unless_changed(Namespace::Analytics, "bot:1:x", 1_u8, 1, None, 0, epoch);
    assert!(c.get::<u8>(Namespace::Analytics, "bot:1:x", 1).is_none());
    let epoch = c.epoch(Namespace::Analytics);
    c.put_unless_changed(Namespace::Analytics, "bot:1:x", 2_u8, 1, None, 0, epoch);
    assert_eq!(
        c.get::<u8>(Namespace::Analytics, "bot:1:x", 1).as_deref(),
        Some(&2)
    );
}

#[test]
fn keys_delete_flush_and_json() {
    let c = Cache::new(1 << 20);
    c.put(
        Namespace::User,
        "a:1",
        serde_json::json!({"x": 1}),
        10,
        None,
        0,
    );
    c.put(Namespace::User, "a:2", serde_json::json!(2), 10, None, 0);
    c.put(Namespace::User, "b", serde_json::json!(3), 10, None, 0);
    let g = Glob::new("user:a:*").expect("glob");
    let keys: Vec<String> = c
        .keys(Namespace::User, 1, |k| g.matches(&format!("user:{k}")))
        .into_iter()
        .map(|k| k.key)
        .collect();
    assert_eq!(keys, vec!["user:a:1", "user:a:2"]);
    assert_eq!(
        c.get_json(Namespace::User, "a:1", 1).map(|v| v.0),
        Some(serde_json::json!({"x": 1}))
    );
    assert_eq!(c.delete_where(Namespace::User, |k| k.starts_with("a:")), 2);
    assert!(c.delete(Namespace::User, "b"));
    assert!(!c.delete(Namespace::User, "b"));
    assert_eq!(c.total().bytes, 0);
    c.put(Namespace::Ticker, "x", 1, 10, None, 0);
    assert_eq!(c.flush(None), 1);
}

#[test]
fn globs_match_and_bad_ones_say_why() {
    let m = |p: &str, s: &str| Glob::new(p).expect("glob").matches(s);
    assert!(m("user:*", "user:abc"));
    assert!(m("*:BTC*", "market.ticker:BTCUSDT"));
    assert!(!m("user:?", "user:ab"));
    assert!(m("k[0-9]", "k7"));
    assert!(!m("k[!0-9]", "k7"));
    assert!(m("a\\*b", "a*b"));
    assert!(!m("a\\*b", "axb"));
    assert!(m("*a*b*c*", "xxaxxbxxcxx"));
    assert!(!m("*a*b*c", "xxaxxbxxcxx"));
    assert!(m("user:{a,b}*", "user:bx"));
    assert!(m("a:b/c*", "a:b/cd"), "`*` and `?` cross `/` in keys");
    assert!(Glob::new("user:[ab").unwrap_err().contains("unclosed"));
    assert!(Glob::new("[z-a]").unwrap_err().contains("range"));
    assert!(Glob::new("ab\\").unwrap_err().contains("dangling"));
    assert_eq!(Glob::new("").unwrap_err(), "is empty");
    assert!(
        Glob::new(&"a".repeat(257))
            .unwrap_err()
            .contains("limit is 256")
    );
    assert_eq!(Glob::new("user:a*").expect("g").prefix(), "user:a");
    assert_eq!(Glob::new("us\\*er*").expect("g").prefix(), "us*er");
}
