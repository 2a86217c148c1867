//! The one tokio runtime of the process and the two ways Python waits on it: blocking
//! (GIL released, signals still checked) and asyncio (through pyo3-async-runtimes).
//!
//! The runtime is current-thread, driven forever by one dedicated thread: a Get then
//! costs one hand-off to that thread and one back, with the caller's request, tonic's
//! buffer task and the HTTP/2 connection all on one thread (the `soup` CLI measured about
//! half the latency of a two-worker runtime; see the binding's benchmark notes).

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::task::{Context, Poll};
use std::time::Duration;

use pyo3::prelude::*;
use tokio::runtime::{Builder, Runtime};

use crate::errors::Failure;

/// How often a blocked call wakes to let Python handle signals (Ctrl-C).
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// The process-wide runtime, started on first use.
pub fn runtime() -> Result<&'static Runtime, Failure> {
    static RUNTIME: OnceLock<Result<&'static Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let rt = Builder::new_current_thread()
                .enable_all()
                .thread_name("soup-rpc-blocking")
                .build()
                .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
            let rt: &'static Runtime = Box::leak(Box::new(rt));
            std::thread::Builder::new()
                .name("soup-rpc-runtime".into())
                .spawn(move || rt.block_on(std::future::pending::<()>()))
                .map_err(|e| format!("cannot start the runtime thread: {e}"))?;
            // Errs only if already set, which this once-lock rules out.
            let _ = pyo3_async_runtimes::tokio::init_with_runtime(rt);
            Ok(rt)
        })
        .clone()
        .map_err(Failure::Internal)
}

/// Runs `fut` on the runtime and waits for it with the GIL released.
pub fn wait<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = Result<T, Failure>> + Send + 'static,
    T: Send + 'static,
{
    let mut rx = start(fut).map_err(Failure::into_pyerr)?;
    loop {
        let (received, back) = py.detach(move || (rx.recv_timeout(SIGNAL_POLL), rx));
        rx = back;
        match received {
            Ok(result) => return result.map_err(Failure::into_pyerr),
            Err(RecvTimeoutError::Timeout) => py.check_signals()?,
            Err(RecvTimeoutError::Disconnected) => {
                return Err(Failure::Internal("the runtime dropped a task".into()).into_pyerr());
            }
        }
    }
}

/// Spawns `fut` (panics caught) and returns where its result will arrive.
pub fn start<T, F>(fut: F) -> Result<mpsc::Receiver<Result<T, Failure>>, Failure>
where
    F: Future<Output = Result<T, Failure>> + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(1);
    runtime()?.spawn(async move {
        let _ = tx.send(guarded(fut).await);
    });
    Ok(rx)
}

/// An asyncio awaitable for `fut`, run on the runtime.
pub fn awaitable<'py, T, F>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, Failure>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    runtime().map_err(Failure::into_pyerr)?;
    pyo3_async_runtimes::tokio::future_into_py(py, async move {
        guarded(fut).await.map_err(Failure::into_pyerr)
    })
}

/// `fut` with any panic turned into [`Failure::Internal`], so none reaches Python.
pub async fn guarded<T, F>(fut: F) -> Result<T, Failure>
where
    F: Future<Output = Result<T, Failure>>,
{
    CatchUnwind(Box::pin(fut))
        .await
        .unwrap_or_else(|panic| Err(Failure::Internal(format!("panic: {panic}"))))
}

struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(panic_message(panic.as_ref()))),
        }
    }
}

/// The text of a panic payload.
pub fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}
