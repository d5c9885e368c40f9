//! Tables that fit their pane. A number is shown whole or not at all: when
//! the columns do not fit, whole columns are dropped (the least needed
//! first), never digits. Text columns (names, messages) may be shortened
//! down to their minimum; number columns keep their full width.

use ratatui::layout::{Alignment, Constraint};
use ratatui::style::Style;
use ratatui::text::Text;
use ratatui::widgets::{Row, Table};

/// A row's cells, one per column (styles included).
pub type Cells = Vec<Text<'static>>;

/// Space between columns (ratatui's default).
const SPACING: u16 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Numbers, ids, times: always whole, right-aligned.
    Num,
    /// Text that may be shortened to `min` columns.
    Text { min: u16 },
}

/// A column: its title, its kind, and how much it is needed: with too
/// little room, the lowest `keep` goes first (the rightmost of equals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Col {
    pub title: &'static str,
    pub kind: Kind,
    pub keep: u8,
}

impl Col {
    pub const fn num(title: &'static str, keep: u8) -> Col {
        Col {
            title,
            kind: Kind::Num,
            keep,
        }
    }

    pub const fn text(title: &'static str, min: u16, keep: u8) -> Col {
        Col {
            title,
            kind: Kind::Text { min },
            keep,
        }
    }
}

fn width_of(t: &Text<'_>) -> u16 {
    u16::try_from(t.width()).unwrap_or(u16::MAX)
}

/// Each column's width in `width` terminal columns; `None` for a dropped
/// column. Every kept number column gets its widest cell's width.
pub fn fit(cols: &[Col], rows: &[Cells], width: u16) -> Vec<Option<u16>> {
    let natural: Vec<u16> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let title = u16::try_from(c.title.chars().count()).unwrap_or(u16::MAX);
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(width_of)
                .fold(title, u16::max)
        })
        .collect();
    let least = |i: usize| match cols[i].kind {
        Kind::Num => natural[i],
        Kind::Text { min } => natural[i].min(min),
    };
    let mut kept: Vec<bool> = vec![true; cols.len()];
    let need = |kept: &[bool]| -> u32 {
        let n = kept.iter().filter(|k| **k).count() as u32;
        let cells: u32 = (0..cols.len())
            .filter(|i| kept[*i])
            .map(|i| u32::from(least(i)))
            .sum();
        cells + n.saturating_sub(1) * u32::from(SPACING)
    };
    while need(&kept) > u32::from(width) && kept.iter().filter(|k| **k).count() > 1 {
        // The least needed column goes; of equals, the rightmost.
        let drop = (0..cols.len())
            .filter(|i| kept[*i])
            .min_by_key(|i| (cols[*i].keep, std::cmp::Reverse(*i)));
        match drop {
            Some(i) => kept[i] = false,
            None => break,
        }
    }
    // Room left goes to the text columns, up to their natural widths.
    let mut spare = u32::from(width).saturating_sub(need(&kept));
    let mut out: Vec<Option<u16>> = (0..cols.len()).map(|i| kept[i].then(|| least(i))).collect();
    for (i, w) in out.iter_mut().enumerate() {
        if let (Some(w), Kind::Text { .. }) = (w.as_mut(), cols[i].kind) {
            let more = u32::from(natural[i].saturating_sub(*w)).min(spare);
            *w = w.saturating_add(u16::try_from(more).unwrap_or(u16::MAX));
            spare -= more;
        }
    }
    out
}

/// Text shortened to `width` columns without cutting a word in two: it
/// ends at a space, with `…`. A number is a word, so it is never cut.
pub fn shorten(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let head: String = text.chars().take(width - 1).collect();
    let next = text.chars().nth(width - 1);
    let cut = if next.is_some_and(char::is_whitespace) {
        head.trim_end().to_owned()
    } else {
        match head.rfind(char::is_whitespace) {
            Some(at) => head[..at].trim_end().to_owned(),
            // One long word: a name is cut (it has no digits to lose);
            // anything with digits shows only that it is there.
            None if head.chars().any(|c| c.is_ascii_digit()) => String::new(),
            None => head,
        }
    };
    format!("{cut}…")
}

/// A text cell shortened to `width` (its style kept).
fn shorten_cell(t: Text<'static>, width: u16) -> Text<'static> {
    let w = usize::from(width);
    if t.width() <= w {
        return t;
    }
    let style = t.style;
    let span_style = t
        .lines
        .first()
        .and_then(|l| l.spans.first())
        .map(|s| s.style)
        .unwrap_or_default();
    let text: String = t
        .lines
        .first()
        .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
        .unwrap_or_default();
    Text::styled(shorten(&text, w), style.patch(span_style))
}

/// The fitted table: dropped columns removed, numbers right-aligned, text
/// shortened at a word. `width` is the room inside the pane's borders.
/// With no column titled, there is no header row.
pub fn table(cols: &[Col], rows: Vec<Cells>, width: u16, header: Style) -> Table<'static> {
    let widths = fit(cols, &rows, width);
    let keep = |i: usize| widths[i].is_some();
    let align = |i: usize, t: Text<'static>| match (cols[i].kind, widths[i]) {
        (Kind::Num, _) => t.alignment(Alignment::Right),
        (Kind::Text { .. }, Some(w)) => shorten_cell(t, w),
        (Kind::Text { .. }, None) => t,
    };
    let titled = cols.iter().any(|c| !c.title.is_empty());
    let head = Row::new(
        cols.iter()
            .enumerate()
            .filter(|(i, _)| keep(*i))
            .map(|(i, c)| match cols[i].kind {
                Kind::Num => Text::from(c.title).alignment(Alignment::Right),
                Kind::Text { .. } => Text::from(c.title),
            })
            .collect::<Vec<_>>(),
    )
    .style(header);
    let body: Vec<Row<'static>> = rows
        .into_iter()
        .map(|r| {
            Row::new(
                r.into_iter()
                    .enumerate()
                    .filter(|(i, _)| *i < cols.len() && keep(*i))
                    .map(|(i, t)| align(i, t))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let constraints: Vec<Constraint> = widths
        .iter()
        .flatten()
        .map(|w| Constraint::Length(*w))
        .collect();
    let t = Table::new(body, constraints).column_spacing(SPACING);
    if titled { t.header(head) } else { t }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Cells {
        cells.iter().map(|c| Text::from((*c).to_owned())).collect()
    }

    #[test]
    fn text_is_shortened_at_a_word_and_never_cuts_a_number() {
        assert_eq!(shorten("bar 4000 of 10000", 14), "bar 4000 of…");
        assert_eq!(shorten("bar 4000 of 10000", 9), "bar 4000…");
        assert_eq!(shorten("bar 4000 of 10000", 8), "bar…");
        assert_eq!(shorten("dip-buyer", 6), "dip-b…");
        assert_eq!(shorten("12345678", 5), "…");
        assert_eq!(shorten("fits", 4), "fits");
        assert_eq!(shorten("x", 0), "");
    }

    #[test]
    fn numbers_keep_every_digit_and_columns_go_instead() {
        let cols = [
            Col::num("Id", 9),
            Col::text("Name", 4, 5),
            Col::num("Limit", 3),
            Col::num("PnL", 8),
        ];
        let rows = vec![row(&["#1", "a long bot name", "3 / 20", "-0.02"])];
        // Room for everything: the name takes what is left, numbers whole.
        assert_eq!(fit(&cols, &rows, 40), [Some(2), Some(15), Some(6), Some(5)]);
        // Tight: the name shortens to its minimum before anything drops.
        assert_eq!(fit(&cols, &rows, 20), [Some(2), Some(4), Some(6), Some(5)]);
        // Tighter: the least needed number column goes, whole (and the
        // name gets the column it leaves over).
        assert_eq!(fit(&cols, &rows, 14), [Some(2), Some(5), None, Some(5)]);
        assert_eq!(fit(&cols, &rows, 8), [Some(2), None, None, Some(5)]);
        // Never a cut number: what is kept is as wide as its widest cell.
        for w in 0..60 {
            let f = fit(&cols, &rows, w);
            for (i, c) in cols.iter().enumerate() {
                if let (Some(got), Kind::Num) = (f[i], c.kind) {
                    assert!(got >= width_of(&rows[0][i]), "width {w}: {f:?}");
                }
            }
        }
    }
}
