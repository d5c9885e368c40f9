//! The forms: the order ticket and the new-bot, backtest and job forms —
//! their fields, and the typed params they produce.

use super::{App, Command, Request};
use crate::view::{Field, Form, FormKind};
use crossterm::event::{KeyCode, KeyEvent};
use tradedesk_core::order::{OrderRequest, OrderType, Side, TimeInForce};

mod spec;
pub use spec::{option_fields, param_fields};
use spec::{options_of, params_of};

pub(super) fn parse_opt<T: std::str::FromStr>(v: &str, field: &str) -> Result<Option<T>, String>
where
    T::Err: std::fmt::Display,
{
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|e| format!("{field}: {e}"))
}

/// The ticket as an order request; errors name the field.
pub fn order_request(form: &Form) -> Result<OrderRequest, String> {
    let symbol = form
        .get("symbol")
        .parse()
        .map_err(|e| format!("symbol: {e}"))?;
    let side = match form.get("side") {
        "buy" => Side::Buy,
        _ => Side::Sell,
    };
    let order_type = [
        OrderType::Market,
        OrderType::Limit,
        OrderType::StopMarket,
        OrderType::StopLimit,
        OrderType::TakeProfit,
        OrderType::TrailingStop,
    ]
    .into_iter()
    .find(|t| t.as_str() == form.get("type"))
    .ok_or_else(|| format!("type: unknown `{}`", form.get("type")))?;
    let qty = parse_opt(form.get("qty"), "quantity")?.ok_or("quantity: required")?;
    let price = parse_opt(form.get("price"), "price")?;
    let stop_price = parse_opt(form.get("stop"), "stop")?;
    if matches!(order_type, OrderType::Limit | OrderType::StopLimit) && price.is_none() {
        return Err(format!(
            "price: required for a {} order",
            order_type.as_str()
        ));
    }
    if matches!(
        order_type,
        OrderType::StopMarket | OrderType::StopLimit | OrderType::TakeProfit
    ) && stop_price.is_none()
    {
        return Err(format!(
            "stop: required for a {} order",
            order_type.as_str()
        ));
    }
    let trail = parse_opt(form.get("trail"), "trail %")?.map(tradedesk_core::order::Trail::Percent);
    if order_type == OrderType::TrailingStop && trail.is_none() {
        return Err("trail %: required for a trailing_stop order".into());
    }
    let time_in_force = [
        TimeInForce::Gtc,
        TimeInForce::Ioc,
        TimeInForce::Fok,
        TimeInForce::PostOnly,
    ]
    .into_iter()
    .find(|t| t.as_str() == form.get("tif"));
    Ok(OrderRequest {
        symbol,
        side,
        order_type,
        qty,
        price,
        stop_price,
        trail,
        time_in_force,
        client_order_id: None,
        account: None,
    })
}

/// A form's params as the method's typed `Params`: what the daemon would
/// refuse for its shape is said here, naming the field.
fn typed<P: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<P, String> {
    tradedesk_core::api::ApiError::decode_params(v).map_err(|e| e.message)
}

pub(super) fn bot_params(form: &Form) -> Result<serde_json::Value, String> {
    let name = form.get("name").trim();
    if name.is_empty() {
        return Err("name: required".into());
    }
    let mut allocation = serde_json::Map::new();
    for part in form
        .get("allocation")
        .split(',')
        .filter(|p| !p.trim().is_empty())
    {
        let (asset, amount) = part
            .split_once('=')
            .ok_or_else(|| format!("allocation: `{}` is not ASSET=amount", part.trim()))?;
        allocation.insert(asset.trim().to_uppercase(), amount.trim().into());
    }
    let mut spec = serde_json::json!({
        "strategy": form.get("strategy"),
        "params": params_of(form),
        "interval": form.get("interval"),
    });
    if let Some(s) = spec.as_object_mut() {
        s.extend(options_of(form));
    }
    Ok(serde_json::json!({
        "name": name,
        "spec": spec,
        "symbols": [form.get("symbol")],
        "allocation": allocation,
        "start": form.get("start") == "yes",
    }))
}

pub(super) fn job_params(form: &Form) -> Result<serde_json::Value, String> {
    let payload: serde_json::Value = serde_json::from_str(form.get("payload").trim())
        .map_err(|e| format!("payload: not JSON: {e}"))?;
    if !payload.is_object() {
        return Err("payload: must be a JSON object".into());
    }
    let priority: i32 = form.get("priority").trim().parse().map_err(|_| {
        format!(
            "priority: `{}` is not a whole number",
            form.get("priority").trim()
        )
    })?;
    let mut p = serde_json::json!({
        "kind": form.get("kind"),
        "payload": payload,
        "priority": priority,
    });
    if let Some(delay) = parse_opt::<u32>(form.get("delay"), "delay")? {
        let at = chrono::Utc::now() + chrono::Duration::seconds(i64::from(delay));
        p["run_at"] = serde_json::to_value(tradedesk_core::time::Timestamp::from_datetime(at))
            .map_err(|e| format!("delay: {e}"))?;
    }
    Ok(p)
}

pub(super) fn backtest_params(form: &Form) -> Result<serde_json::Value, String> {
    let dataset: u64 = form
        .get("dataset")
        .split_whitespace()
        .next()
        .and_then(|d| d.parse().ok())
        .ok_or("dataset: choose one")?;
    let mut strategy =
        serde_json::json!({"strategy": form.get("strategy"), "params": params_of(form)});
    if let Some(s) = strategy.as_object_mut() {
        s.extend(options_of(form));
    }
    let mut spec = serde_json::json!({
        "strategies": [{
            "spec": strategy,
            "datasets": [dataset],
        }],
        "settings": {
            "capital": form.get("capital").trim(),
            "fill": form.get("fill"),
        },
    });
    // Left empty, the daemon's configured default applies (as in the CLI).
    let commission = form.get("commission").trim();
    if !commission.is_empty() {
        spec["settings"]["commission_pct"] = commission.into();
    }
    let name = form.get("name").trim();
    if !name.is_empty() {
        spec["name"] = name.into();
    }
    Ok(spec)
}

impl App {
    pub(super) fn form_key(&mut self, key: KeyEvent) -> Command {
        let Some(form) = self.view.form.as_mut() else {
            return Command::None;
        };
        // Sent: the form waits for the answer (Esc still closes it).
        if form.pending && key.code != KeyCode::Esc {
            return Command::None;
        }
        let text = form.focused().choices.is_empty();
        match key.code {
            KeyCode::Esc => {
                self.view.form = None;
                self.daemon.check = None;
            }
            KeyCode::Tab | KeyCode::Down => form.focus = (form.focus + 1) % form.fields.len(),
            KeyCode::BackTab | KeyCode::Up => {
                form.focus = (form.focus + form.fields.len() - 1) % form.fields.len();
            }
            KeyCode::Left => form.focused().cycle(-1),
            KeyCode::Right | KeyCode::Char(' ') if !form.focused().choices.is_empty() => {
                form.focused().cycle(1);
            }
            // Choice fields cycle; only text fields are edited.
            KeyCode::Backspace if text => {
                form.focused().value.pop();
            }
            KeyCode::Char(c) if text => form.focused().value.push(c),
            KeyCode::Enter => return self.submit(),
            _ => return Command::None,
        }
        if let Some(form) = self.view.form.as_mut() {
            form.error = None;
            form.error_field = None;
            if form.kind != FormKind::Order {
                self.refresh_param_fields();
            }
        }
        Command::Redraw
    }

    pub(super) fn open_ticket(&mut self) {
        let symbols: Vec<String> = self
            .daemon
            .symbols
            .iter()
            .map(|s| s.symbol.to_string())
            .collect();
        if symbols.is_empty() {
            self.view.notice = Some("no symbols yet: is the daemon connected?".into());
            return;
        }
        let symbol = self.watched().unwrap_or_else(|| symbols[0].clone());
        let mut sym = Field::choice("symbol", "Symbol", &[], &symbol);
        sym.choices = symbols;
        let fields = vec![
            sym,
            Field::choice("side", "Side", &["buy", "sell"], "buy"),
            Field::choice(
                "type",
                "Type",
                &[
                    "market",
                    "limit",
                    "stop_market",
                    "stop_limit",
                    "take_profit",
                    "trailing_stop",
                ],
                "market",
            ),
            Field::text("qty", "Quantity", "", "base units, e.g. 0.01"),
            Field::text("price", "Price", "", "limit price (limit, stop-limit)"),
            Field::text("stop", "Stop", "", "trigger price (stop, take-profit)"),
            Field::text("trail", "Trail %", "", "trailing stop distance in percent"),
            Field::choice(
                "tif",
                "Time in force",
                &["gtc", "ioc", "fok", "post_only"],
                "gtc",
            ),
        ];
        self.daemon.check = None;
        self.view.form = Some(Form::new(FormKind::Order, "Order ticket", fields));
    }

    pub(super) fn open_bot_form(&mut self) {
        let Some(first) = self.daemon.strategies.first() else {
            self.view.notice = Some("no strategy catalogue yet: is the daemon connected?".into());
            return;
        };
        let names: Vec<String> = self
            .daemon
            .strategies
            .iter()
            .map(|s| s.name.clone())
            .collect();
        let symbols: Vec<String> = self
            .daemon
            .symbols
            .iter()
            .map(|s| s.symbol.to_string())
            .collect();
        let quote = self
            .daemon
            .symbols
            .first()
            .map_or("USDT".to_owned(), |s| s.quote.clone());
        let mut strategy = Field::choice("strategy", "Strategy", &[], &first.name);
        strategy.choices = names;
        let mut symbol = Field::choice(
            "symbol",
            "Symbol",
            &[],
            symbols.first().map_or("", String::as_str),
        );
        symbol.choices = symbols;
        let fields = vec![
            Field::text("name", "Name", "", "letters, digits, - _ ."),
            strategy,
            symbol,
            Field::choice(
                "interval",
                "Interval",
                &["1m", "5m", "15m", "1h", "4h", "1d"],
                "1m",
            ),
            Field::text(
                "allocation",
                "Allocation",
                &format!("{quote}=1000"),
                "ASSET=amount, comma separated",
            ),
            Field::choice("start", "Start now", &["yes", "no"], "yes"),
        ]
        .into_iter()
        .chain(option_fields())
        .collect();
        self.view.form = Some(Form::new(FormKind::Bot, "New bot", fields));
        self.refresh_param_fields();
    }

    pub(super) fn open_backtest_form(&mut self) {
        if self.daemon.datasets.is_empty() {
            self.view.notice =
                Some("no datasets: import one with `tradectl data import FILE`".into());
            return;
        }
        let Some(first) = self.daemon.strategies.first() else {
            self.view.notice = Some("no strategy catalogue yet: is the daemon connected?".into());
            return;
        };
        let mut strategy = Field::choice("strategy", "Strategy", &[], &first.name);
        strategy.choices = self
            .daemon
            .strategies
            .iter()
            .map(|s| s.name.clone())
            .collect();
        let sets: Vec<String> = self
            .daemon
            .datasets
            .iter()
            .map(|d| format!("{} {}", d.id, d.name))
            .collect();
        let mut dataset = Field::choice("dataset", "Dataset", &[], &sets[0]);
        dataset.choices = sets;
        let fields = vec![
            Field::text("name", "Name", "", "optional"),
            dataset,
            strategy,
            Field::text("capital", "Capital", "10000", "quote currency"),
            Field::text(
                "commission",
                "Commission %",
                "",
                "per fill; empty = the daemon's default",
            ),
            Field::choice("fill", "Fill model", &["next_open", "close"], "next_open"),
        ]
        .into_iter()
        .chain(option_fields())
        .collect();
        self.view.form = Some(Form::new(FormKind::Backtest, "New backtest", fields));
        self.refresh_param_fields();
    }

    pub(super) fn open_job_form(&mut self) {
        let kinds: Vec<String> = self.daemon.kinds.iter().map(|k| k.name.clone()).collect();
        let Some(first) = kinds.first().cloned() else {
            self.view.notice = Some("no job kinds yet: is the daemon connected?".into());
            return;
        };
        let mut kind = Field::choice("kind", "Kind", &[], &first);
        kind.choices = kinds;
        let fields = vec![
            kind,
            Field::text(
                "payload",
                "Payload",
                "{}",
                "a JSON object, as the kind's schema says",
            ),
            Field::text("priority", "Priority", "0", "higher runs first"),
            Field::text(
                "delay",
                "Delay (s)",
                "",
                "run this many seconds from now; empty: now",
            ),
        ];
        self.view.form = Some(Form::new(FormKind::Job, "Enqueue a job", fields));
    }

    /// Keeps a form's `param.*` fields those of the chosen strategy.
    pub(super) fn refresh_param_fields(&mut self) {
        let Some(form) = self.view.form.as_mut() else {
            return;
        };
        let chosen = form.get("strategy").to_owned();
        let Some(info) = self.daemon.strategies.iter().find(|s| s.name == chosen) else {
            return;
        };
        let keys: Vec<String> = param_fields(&info.params_schema)
            .into_iter()
            .map(|f| f.key)
            .collect();
        let have: Vec<String> = form
            .fields
            .iter()
            .filter(|f| f.key.starts_with("param."))
            .map(|f| f.key.clone())
            .collect();
        if keys == have {
            return;
        }
        form.fields.retain(|f| !f.key.starts_with("param."));
        form.fields.extend(param_fields(&info.params_schema));
        form.focus = form.focus.min(form.fields.len() - 1);
    }

    pub(super) fn submit(&mut self) -> Command {
        let Some(form) = self.view.form.as_mut() else {
            return Command::None;
        };
        let built = match form.kind {
            FormKind::Order => order_request(form).map(|r| {
                let values = form.values();
                if form.checked.as_ref() == Some(&values) {
                    match &self.daemon.check {
                        Some(c) if c.approved => Some(Request::Place(Box::new(r))),
                        Some(_) => None,
                        None => Some(Request::Check(Box::new(r))),
                    }
                } else {
                    form.checked = Some(values);
                    self.daemon.check = None;
                    Some(Request::Check(Box::new(r)))
                }
            }),
            FormKind::Bot => bot_params(form)
                .and_then(typed)
                .map(|p| Some(Request::CreateBot(Box::new(p)))),
            FormKind::Job => job_params(form)
                .and_then(typed)
                .map(|p| Some(Request::Enqueue(Box::new(p)))),
            FormKind::Backtest => backtest_params(form)
                .and_then(typed)
                .map(|p| Some(Request::CreateBacktest(Box::new(p)))),
        };
        match built {
            Err(e) => {
                form.error = Some(e);
                Command::Redraw
            }
            Ok(None) => {
                form.error = Some("the risk check rejected this order: change it first".into());
                Command::Redraw
            }
            Ok(Some(r @ Request::Check(_))) => Command::Send(r),
            Ok(Some(r)) => {
                // The form stays until the daemon answers: accepted, it
                // closes; refused, it shows why beside the field at fault.
                form.pending = true;
                self.send(r)
            }
        }
    }

    /// A request's failure, shown where its answer was awaited.
    pub(super) fn failed(&mut self, request: &Request, message: String, field: Option<&str>) {
        if request.is_action() {
            self.view.in_flight = self.view.in_flight.saturating_sub(1);
        }
        let in_form = matches!(
            request,
            Request::Check(_)
                | Request::Place(_)
                | Request::CreateBot(_)
                | Request::CreateBacktest(_)
                | Request::Enqueue(_)
        );
        match (request, self.view.form.as_mut()) {
            (_, Some(form))
                if in_form && (form.pending || matches!(request, Request::Check(_))) =>
            {
                form.pending = false;
                // A failed check is no check: Enter asks again.
                form.checked = None;
                self.daemon.check = None;
                form.fail(message, field);
            }
            (Request::Compare(..), _) => self.daemon.failed.compare = Some(message),
            (Request::OpenBacktest(id), _) => self.daemon.failed.result = Some((*id, message)),
            (Request::BotEvents(id), _) => {
                self.daemon.failed.bot = Some((*id, message.clone()));
                self.view.notice = Some(format!("error: {message}"));
            }
            _ => self.view.notice = Some(format!("error: {message}")),
        }
    }
}
