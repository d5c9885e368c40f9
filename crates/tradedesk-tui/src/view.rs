//! State of the interface itself: which screen, what is selected, open
//! forms and dialogs. Nothing here came from the daemon.

use crate::app::Request;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Screen {
    Desk,
    Market,
    Orders,
    Bots,
    Backtests,
    Jobs,
    Risk,
    System,
}

impl Screen {
    pub const ALL: [Screen; 8] = [
        Screen::Desk,
        Screen::Market,
        Screen::Orders,
        Screen::Bots,
        Screen::Backtests,
        Screen::Jobs,
        Screen::Risk,
        Screen::System,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Desk => "Desk",
            Screen::Market => "Market",
            Screen::Orders => "Orders",
            Screen::Bots => "Bots",
            Screen::Backtests => "Backtests",
            Screen::Jobs => "Jobs",
            Screen::Risk => "Risk",
            Screen::System => "System",
        }
    }

    pub fn index(self) -> usize {
        Screen::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    #[must_use]
    pub fn next(self) -> Screen {
        Screen::ALL[(self.index() + 1) % Screen::ALL.len()]
    }

    #[must_use]
    pub fn prev(self) -> Screen {
        Screen::ALL[(self.index() + Screen::ALL.len() - 1) % Screen::ALL.len()]
    }
}

/// Chart overlays on the Market screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Overlays {
    pub sma: bool,
    pub ema: bool,
    pub bollinger: bool,
}

/// One field of a form: free text, or a choice among `choices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub key: String,
    pub label: String,
    pub value: String,
    pub choices: Vec<String>,
    pub hint: String,
}

impl Field {
    pub fn text(key: &str, label: &str, value: &str, hint: &str) -> Field {
        Field {
            key: key.into(),
            label: label.into(),
            value: value.into(),
            choices: Vec::new(),
            hint: hint.into(),
        }
    }

    pub fn choice(key: &str, label: &str, choices: &[&str], value: &str) -> Field {
        Field {
            key: key.into(),
            label: label.into(),
            value: value.into(),
            choices: choices.iter().map(|c| (*c).to_owned()).collect(),
            hint: String::new(),
        }
    }

    /// Moves a choice field by `by` (wrapping).
    pub fn cycle(&mut self, by: isize) {
        if self.choices.is_empty() {
            return;
        }
        let n = self.choices.len() as isize;
        let at = self
            .choices
            .iter()
            .position(|c| *c == self.value)
            .map_or(0, |i| i as isize);
        self.value = self.choices[(at + by).rem_euclid(n) as usize].clone();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    /// The order ticket: Enter checks against risk, Enter again places.
    Order,
    Bot,
    Backtest,
    Job,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    pub kind: FormKind,
    pub title: String,
    pub fields: Vec<Field>,
    pub focus: usize,
    /// The ticket was checked with these values (a change asks again).
    pub checked: Option<Vec<String>>,
    pub error: Option<String>,
    /// The field the error is about (its key).
    pub error_field: Option<String>,
    /// Submitted, waiting for the daemon's answer.
    pub pending: bool,
}

impl Form {
    pub fn new(kind: FormKind, title: &str, fields: Vec<Field>) -> Form {
        Form {
            kind,
            title: title.into(),
            fields,
            focus: 0,
            checked: None,
            error: None,
            error_field: None,
            pending: false,
        }
    }

    /// Shows a refusal: the message, beside the field it names (which
    /// gets the focus) when that is one of this form's.
    pub fn fail(&mut self, message: String, api_field: Option<&str>) {
        let key = api_field.and_then(|f| self.field_for(f));
        if let Some(i) = key
            .as_deref()
            .and_then(|k| self.fields.iter().position(|f| f.key == k))
        {
            self.focus = i;
        }
        self.error_field = key;
        self.error = Some(message);
    }

    /// This form's field for a request field the daemon named
    /// (`order.price` → `price`, `spec.params.fast` → `param.fast`,
    /// `settings.commission_pct` → `commission`, `symbols[0]` → `symbol`).
    pub fn field_for(&self, api_field: &str) -> Option<String> {
        let mut f = api_field;
        for prefix in ["order.", "backtest.", "settings."] {
            f = f.strip_prefix(prefix).unwrap_or(f);
        }
        if let Some(rest) = f.strip_prefix("strategies[") {
            f = rest.split_once("].").map_or(rest, |(_, r)| r);
        }
        f = f.strip_prefix("spec.").unwrap_or(f);
        let head = f.split(['.', '[']).next().unwrap_or(f);
        let key = match head {
            "params" => format!("param.{}", f.split('.').nth(1).unwrap_or_default()),
            "sizing" | "exits" => {
                let mut parts = f.split('.');
                format!(
                    "{}.{}",
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default()
                )
            }
            "stop_price" => "stop".into(),
            "time_in_force" => "tif".into(),
            "commission_pct" => "commission".into(),
            "symbols" => "symbol".into(),
            "datasets" => "dataset".into(),
            "run_at" => "delay".into(),
            other => other.to_owned(),
        };
        self.fields.iter().any(|x| x.key == key).then_some(key)
    }

    pub fn get(&self, key: &str) -> &str {
        self.fields
            .iter()
            .find(|f| f.key == key)
            .map_or("", |f| f.value.as_str())
    }

    pub fn values(&self) -> Vec<String> {
        self.fields.iter().map(|f| f.value.clone()).collect()
    }

    pub fn focused(&mut self) -> &mut Field {
        let i = self.focus.min(self.fields.len().saturating_sub(1));
        &mut self.fields[i]
    }
}

/// A yes/no question before an action; with `typed`, the word must be
/// typed out (the kill switch).
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub prompt: String,
    pub typed: Option<(String, String)>,
    pub then: Then,
}

/// What a confirmed dialog does.
#[derive(Debug, Clone, PartialEq)]
pub enum Then {
    Send(Request),
    Quit,
}

/// The `:` command palette.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Palette {
    pub input: String,
    pub selected: usize,
    /// Why the last Enter did nothing (an unknown command, bad arguments).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobsPane {
    #[default]
    Queue,
    Schedules,
}

#[derive(Debug)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "independent toggles of the interface"
)]
pub struct ViewState {
    pub screen: Screen,
    pub help: bool,
    /// Show times in UTC instead of local time.
    pub utc: bool,
    pub colors: bool,
    /// Balances and PnL masked.
    pub privacy: bool,
    pub notice: Option<String>,
    /// Selected row per screen.
    pub selected: [usize; 8],
    /// `/` filter per screen, and whether it is being typed.
    pub filter: [String; 8],
    pub filtering: bool,
    pub palette: Option<Palette>,
    pub form: Option<Form>,
    pub confirm: Option<Confirm>,
    /// Actions sent to the daemon and not answered yet.
    pub in_flight: usize,
    pub interval: tradedesk_core::market::Interval,
    pub overlays: Overlays,
    /// Orders screen: history instead of open orders.
    pub history: bool,
    pub jobs_pane: JobsPane,
    /// Backtests screen: the opened result, and one marked to compare.
    pub opened: Option<u64>,
    pub marked: Option<u64>,
    pub comparing: bool,
}

impl ViewState {
    pub fn new(colors: bool) -> Self {
        ViewState {
            screen: Screen::Desk,
            help: false,
            utc: false,
            colors,
            privacy: false,
            notice: None,
            selected: [0; 8],
            filter: Default::default(),
            filtering: false,
            palette: None,
            form: None,
            confirm: None,
            in_flight: 0,
            interval: tradedesk_core::market::Interval::M1,
            overlays: Overlays::default(),
            history: false,
            jobs_pane: JobsPane::Queue,
            opened: None,
            marked: None,
            comparing: false,
        }
    }

    pub fn selected(&self) -> usize {
        self.selected[self.screen.index()]
    }

    pub fn filter(&self) -> &str {
        &self.filter[self.screen.index()]
    }
}

/// Case-insensitive substring match of a list filter.
pub fn matches(filter: &str, text: &str) -> bool {
    filter.is_empty() || text.to_lowercase().contains(&filter.to_lowercase())
}
