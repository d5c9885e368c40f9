//! Pagination shared by every list method: `limit` with a hard maximum and
//! an opaque `cursor` taken from the previous page's `next_cursor`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ApiError;

/// One page of a list: its items, and the cursor of the next page (absent
/// on the last). Every list method answers with one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A whole list as one last page.
    pub fn whole(items: Vec<T>) -> Page<T> {
        Page {
            items,
            next_cursor: None,
        }
    }
}

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;

/// The page size asked for, checked against the maximum.
pub fn limit(requested: Option<u32>) -> Result<u32, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(0) => Err(ApiError::invalid_params(
            "invalid params: field `limit`: must be at least 1",
        )),
        Some(n) if n > MAX_LIMIT => Err(ApiError::invalid_params(format!(
            "invalid params: field `limit`: {n} exceeds the maximum of {MAX_LIMIT}"
        ))),
        Some(n) => Ok(n),
    }
}

/// Cursors are the id to continue below, as a string.
pub fn cursor(c: Option<&str>) -> Result<Option<u64>, ApiError> {
    c.map(|s| {
        s.parse::<u64>().map_err(|_| {
            ApiError::invalid_params(format!(
                "invalid params: field `cursor`: `{s}` is not a cursor from a previous page"
            ))
        })
    })
    .transpose()
}

/// The cursor for the page after `items`, when the page was full.
/// A page of a short list held in memory, in its order: the cursor is the
/// offset of the next item.
pub fn in_memory<T>(
    items: Vec<T>,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<Page<T>, ApiError> {
    let limit = self::limit(limit)? as usize;
    let from = self::cursor(cursor)?.map_or(0, |c| c as usize);
    let total = items.len();
    let items: Vec<T> = items.into_iter().skip(from).take(limit).collect();
    let next = from.saturating_add(items.len());
    Ok(Page {
        items,
        next_cursor: (next < total).then(|| next.to_string()),
    })
}

/// A page of `limit` items of a newest-first listing keyed by id that keeps
/// only what `keep` accepts. `fetch(before, n)` reads up to `n` rows below
/// `before`; more are read until the page is full or the rows end, so a
/// filter applied after the query never ends the paging early.
pub fn filtered<T, E>(
    before: Option<u64>,
    limit: u32,
    id: impl Fn(&T) -> u64,
    mut fetch: impl FnMut(Option<u64>, u32) -> Result<Vec<T>, E>,
    mut keep: impl FnMut(&T) -> Result<bool, E>,
) -> Result<Page<T>, E> {
    let mut items = Vec::new();
    let mut from = before;
    loop {
        let rows = fetch(from, limit)?;
        let ended = rows.len() < limit as usize;
        for row in rows {
            from = Some(id(&row));
            if keep(&row)? {
                items.push(row);
                if items.len() == limit as usize {
                    let next_cursor = from.map(|i| i.to_string());
                    return Ok(Page { items, next_cursor });
                }
            }
        }
        if ended {
            return Ok(Page {
                items,
                next_cursor: None,
            });
        }
    }
}

pub fn next_cursor<T>(items: &[T], limit: u32, id: impl Fn(&T) -> u64) -> Option<String> {
    (items.len() == limit as usize)
        .then(|| items.last().map(|t| id(t).to_string()))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded() {
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
        assert!(limit(Some(0)).unwrap_err().message.contains("`limit`"));
        assert!(
            limit(Some(MAX_LIMIT + 1))
                .unwrap_err()
                .message
                .contains("maximum of 1000")
        );
        assert!(cursor(Some("x")).unwrap_err().message.contains("`cursor`"));
        assert_eq!(next_cursor(&[5u64, 4], 2, |x| *x), Some("4".into()));
        assert_eq!(next_cursor(&[5u64], 2, |x| *x), None);
        let p = in_memory(vec![1, 2, 3], Some(2), None).expect("page");
        assert_eq!((p.items, p.next_cursor.as_deref()), (vec![1, 2], Some("2")));
        let p = in_memory(vec![1, 2, 3], Some(2), Some("2")).expect("page");
        assert_eq!((p.items, p.next_cursor), (vec![3], None));
        assert!(in_memory(vec![1], Some(0), None).is_err());
    }

    #[test]
    fn filtered_pages_fill_across_reads_and_end_with_the_rows() {
        // Rows 20..1, newest first; keep the even ones.
        let fetch = |before: Option<u64>, n: u32| -> Result<Vec<u64>, ()> {
            Ok((1..before.unwrap_or(21)).rev().take(n as usize).collect())
        };
        let even = |x: &u64| Ok(x.is_multiple_of(2));
        let p = filtered(None, 4, |x| *x, fetch, even).expect("page");
        assert_eq!(p.items, vec![20, 18, 16, 14]);
        assert_eq!(p.next_cursor.as_deref(), Some("14"));
        let p = filtered(Some(14), 4, |x| *x, fetch, even).expect("page");
        assert_eq!(
            (p.items, p.next_cursor.as_deref()),
            (vec![12, 10, 8, 6], Some("6"))
        );
        let p = filtered(Some(6), 4, |x| *x, fetch, even).expect("page");
        assert_eq!((p.items, p.next_cursor), (vec![4, 2], None));
        // Nothing kept: one empty last page, every row read once.
        let mut reads = 0;
        let p = filtered(
            None,
            3,
            |x| *x,
            |b, n| {
                reads += 1;
                fetch(b, n)
            },
            |_| Ok(false),
        )
        .expect("page");
        assert_eq!((p.items.len(), p.next_cursor, reads), (0, None, 7));
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

/// The most pages a client follows for one whole list: a bound against a
/// server whose cursors never end (a million items at the largest size).
pub const MAX_PAGES: usize = 1000;

impl PageParams {
    /// The first page at the largest size: what a client that shows a
    /// whole short list (symbols, positions, workers) asks for.
    pub fn largest() -> PageParams {
        PageParams {
            limit: Some(MAX_LIMIT),
            cursor: None,
        }
    }
}
