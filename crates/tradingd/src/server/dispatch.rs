//! The dispatcher: method name → decode params → check scope → handler →
//! encode result. Built by visiting the catalogue, so it has exactly the
//! catalogue's methods. One place decodes, maps errors and catches panics.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde_json::value::RawValue;
use tradedesk_core::api::{
    ApiError, Caller, ErrorCode, Handle, Handlers, Method, Scope, Visitor, visit_methods,
};

type CallFuture = Pin<Box<dyn Future<Output = Result<Box<RawValue>, ApiError>> + Send>>;
type CallFn<H> =
    Box<dyn Fn(&Arc<H>, Caller, Option<&RawValue>) -> Result<CallFuture, ApiError> + Send + Sync>;

struct Entry<H> {
    series: [&'static crate::services::metrics::Series; 3],
    scope: Scope,
    call: CallFn<H>,
}

pub struct Dispatcher<H> {
    table: HashMap<&'static str, Entry<H>>,
}

impl<H: Handlers> Dispatcher<H> {
    pub fn new() -> Self {
        let mut d = Dispatcher {
            table: HashMap::new(),
        };
        visit_methods::<H, _>(&mut d);
        d
    }

    pub fn scope(&self, method: &str) -> Option<Scope> {
        self.table.get(method).map(|e| e.scope)
    }

    /// Runs one call. Never panics: a handler's panic becomes an internal
    /// error (and is logged).
    pub async fn call(
        &self,
        handlers: &Arc<H>,
        caller: Caller,
        method: &str,
        params: Option<&RawValue>,
    ) -> Result<Box<RawValue>, ApiError> {
        let entry = self.table.get(method).ok_or_else(|| {
            ApiError::new(
                ErrorCode::MethodNotFound,
                format!("unknown method `{method}` (system.methods lists them)"),
            )
        })?;
        let started = std::time::Instant::now();
        let transport = caller.transport;
        let result = self.run(entry, handlers, caller, method, params).await;
        crate::services::metrics::record(
            entry.series,
            transport,
            started.elapsed(),
            result.is_ok(),
        );
        result
    }

    async fn run(
        &self,
        entry: &Entry<H>,
        handlers: &Arc<H>,
        caller: Caller,
        method: &str,
        params: Option<&RawValue>,
    ) -> Result<Box<RawValue>, ApiError> {
        if !caller.allows(entry.scope) {
            return Err(needs_scope(method, entry.scope));
        }
        let fut = (entry.call)(handlers, caller, params)?;
        match CatchUnwind(fut).await {
            Ok(result) => result,
            Err(()) => {
                tracing::error!(method, "handler panicked");
                Err(ApiError::internal(format!(
                    "internal error in `{method}`; see the daemon log"
                )))
            }
        }
    }
}

impl<H: Handlers> Default for Dispatcher<H> {
    fn default() -> Self {
        Self::new()
    }
}

impl<H: Handlers> Visitor<H> for Dispatcher<H> {
    fn visit<M: Method>(&mut self)
    where
        H: Handle<M>,
    {
        let call: CallFn<H> = Box::new(|handlers, caller, params| {
            let params = decode_params::<M>(params)?;
            let handlers = Arc::clone(handlers);
            Ok(Box::pin(async move {
                let result = <H as Handle<M>>::handle(&handlers, &caller, params).await?;
                serde_json::value::to_raw_value(&result).map_err(|e| {
                    tracing::error!(method = M::NAME, error = %e, "cannot encode result");
                    ApiError::internal(format!("cannot encode the result of `{}`", M::NAME))
                })
            }))
        });
        self.table.insert(
            M::NAME,
            Entry {
                series: crate::services::metrics::series_of(M::NAME),
                scope: M::SCOPE,
                call,
            },
        );
    }
}

/// Missing or null params mean `{}`; anything else must match the method's
/// params type exactly, and a failure names the field.
fn decode_params<M: Method>(params: Option<&RawValue>) -> Result<M::Params, ApiError> {
    let text = params.map_or("{}", RawValue::get);
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| ApiError::from_params_error(&e))
}

/// Polls a future, turning a panic into `Err(())`.
struct CatchUnwind(CallFuture);

impl Future for CatchUnwind {
    type Output = Result<Result<Box<RawValue>, ApiError>, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(r)) => Poll::Ready(Ok(r)),
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

/// The refusal of a call whose caller lacks the method's scope, the same
/// on every transport.
pub fn needs_scope(method: &str, scope: tradedesk_core::api::Scope) -> ApiError {
    ApiError::new(
        ErrorCode::Forbidden,
        format!("method `{method}` needs scope `{}`", scope.as_str()),
    )
}
