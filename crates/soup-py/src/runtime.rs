//! The one tokio runtime of the process and how blocking calls wait on it (GIL released,
//! signals still checked); asyncio calls are tasks on it (see [`crate::aio`]).
//!
//! The runtime is current-thread: every task (the connections, tonic's buffer workers,
//! the plugins' stderr readers, the calls) runs on whichever one thread drives it at the
//! time, as in the `soup` CLI, which measured about half the latency of a two-worker
//! runtime.
//!
//! Who drives it, and why:
//! - A blocking call made while no other is in flight (a thread making one call after
//!   another) drives the runtime itself, on the calling thread with the GIL released
//!   (`Runtime::block_on`): a Get then costs what it costs the `soup` CLI. Handing each
//!   call to a runtime thread and back costs two thread wake-ups; measured on a 2-core
//!   VM, a bare hand-off round trip alone took 47 µs (p50), and the binding's Get p50 was
//!   1.6-1.9x the CLI's.
//! - Blocking calls made while others are in flight (many threads) are queued for the
//!   thread that drives, which spawns every call queued since it last looked at once (so
//!   calls queued together are written to the connection together) and runs them and
//!   their HTTP/2 exchanges as its own tasks (a caller polling its call from its own
//!   thread would be woken once per HTTP/2 frame). Their callers are woken in a chain:
//!   the runtime wakes the first caller of a batch, each woken caller the next, before
//!   taking the GIL. When the driving caller leaves, the background thread
//!   `soup-rpc-runtime` takes over.
//! - The background thread drives whenever no blocking call does (asyncio calls, the
//!   plugins' stderr, reaping) and lets go as soon as a lone blocking call arrives; it
//!   leaves the runtime to such callers for [`LINGER`] after the last one, so a loop of
//!   blocking calls keeps it on the looping thread.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use tokio::runtime::{Builder, Runtime};
use tokio::sync::Notify;

use crate::errors::Failure;

/// How often a blocked call on the main thread wakes to let Python run signal handlers
/// (Ctrl-C); other threads never run them, so they sleep until their answer.
const SIGNAL_POLL: Duration = Duration::from_millis(100);
/// How long after the last lone blocking call the background thread takes the runtime
/// back. Longer keeps it with a thread that makes a call, runs some Python and makes the
/// next; shorter serves asyncio calls made just after a blocking one sooner.
const LINGER: Duration = Duration::from_millis(1);

/// The runtime and who drives it.
struct Driver {
    rt: Runtime,
    /// Blocking calls in flight.
    callers: AtomicUsize,
    /// A lone blocking call drives (or is taking over) the runtime on its own thread.
    inline: AtomicBool,
    /// The background thread drives the runtime (or is about to).
    background: AtomicBool,
    /// Tells the background thread to let go of the runtime (see `inline`).
    let_go: Notify,
    /// When the last inline call left, in ns since `epoch`.
    last_left: AtomicU64,
    epoch: Instant,
    /// Set by [`Driver::kick`]: work is queued that needs the background thread now.
    kicked: Mutex<bool>,
    wake: Condvar,
    /// Queued calls not yet spawned, and the submitter task's waker while it is idle.
    submitted: Mutex<Submitted>,
    /// Callers whose queued call finished, not woken yet.
    ready: Mutex<Ready>,
}

/// See [`Driver::submitted`].
#[derive(Default)]
struct Submitted {
    calls: Vec<Pin<Box<dyn Future<Output = ()> + Send>>>,
    idle: Option<Waker>,
    started: bool,
}

/// The process-wide runtime, started on first use.
fn driver() -> Result<&'static Driver, Failure> {
    static DRIVER: OnceLock<Result<&'static Driver, String>> = OnceLock::new();
    DRIVER
        .get_or_init(|| {
            let rt = Builder::new_current_thread()
                .enable_all()
                .thread_name("soup-rpc-blocking")
                .build()
                .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
            let driver: &'static Driver = Box::leak(Box::new(Driver {
                rt,
                callers: AtomicUsize::new(0),
                inline: AtomicBool::new(false),
                background: AtomicBool::new(false),
                let_go: Notify::new(),
                last_left: AtomicU64::new(0),
                epoch: Instant::now(),
                kicked: Mutex::new(false),
                wake: Condvar::new(),
                submitted: Mutex::new(Submitted::default()),
                ready: Mutex::new(Ready::default()),
            }));
            std::thread::Builder::new()
                .name("soup-rpc-runtime".into())
                .spawn(move || driver.background())
                .map_err(|e| format!("cannot start the runtime thread: {e}"))?;
            Ok(driver)
        })
        .clone()
        .map_err(Failure::Internal)
}

impl Driver {
    /// The background thread: drives the runtime whenever no inline call does.
    fn background(&'static self) -> ! {
        loop {
            self.rest();
            self.background.store(true, SeqCst);
            self.rt.block_on(async {
                loop {
                    let asked = self.let_go.notified();
                    let mut asked = pin!(asked);
                    asked.as_mut().enable();
                    if self.inline.load(SeqCst) {
                        break;
                    }
                    asked.await;
                }
            });
            self.background.store(false, SeqCst);
        }
    }

    /// Sleeps while an inline call drives the runtime, or one did within [`LINGER`],
    /// unless kicked.
    fn rest(&self) {
        let mut kicked = lock(&self.kicked);
        loop {
            if std::mem::take(&mut *kicked) {
                return;
            }
            let nap = if self.inline.load(SeqCst) {
                LINGER
            } else if self.callers.load(SeqCst) > 0 {
                return; // queued calls and nobody driving
            } else {
                let idle =
                    Duration::from_nanos(self.now().saturating_sub(self.last_left.load(SeqCst)));
                match LINGER.checked_sub(idle) {
                    Some(left) if !left.is_zero() => left,
                    _ => return,
                }
            };
            kicked = self
                .wake
                .wait_timeout(kicked, nap)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Work was queued from outside the runtime: make sure a thread drives it now.
    fn kick(&self) {
        if self.background.load(SeqCst) || self.inline.load(SeqCst) {
            return; // its driver is awake or woken by the queueing itself
        }
        self.wake_background();
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Drives the runtime on this thread, polling `call` here, until it finishes or
    /// `limit` passes. Once this thread drives, the call, the connection and everything
    /// else run on it (the CLI's situation); until then (another thread is letting go of
    /// the runtime) the call is polled here and the driver wakes it.
    fn run_inline<T: Send + 'static>(&self, call: Call<T>, limit: Option<Duration>) -> Call<T> {
        let Call::Pending(mut fut) = call else {
            return call;
        };
        self.inline.store(true, SeqCst);
        if self.background.load(SeqCst) {
            self.let_go.notify_one();
        }
        let out = self.rt.block_on(async {
            match limit {
                None => Call::Done(fut.as_mut().await),
                Some(limit) => match tokio::time::timeout(limit, fut.as_mut()).await {
                    Ok(result) => Call::Done(result),
                    Err(_) => Call::Pending(fut),
                },
            }
        });
        self.last_left.store(self.now(), SeqCst);
        self.inline.store(false, SeqCst);
        out
    }

    /// Queues `call` for the thread that drives the runtime and sleeps until it is done
    /// or `limit` passes.
    fn run_queued<T: Send + 'static>(
        &'static self,
        call: Call<T>,
        limit: Option<Duration>,
    ) -> Call<T> {
        let call = match call {
            Call::Pending(fut) => {
                let slot = Arc::new(Slot {
                    value: Mutex::new(None),
                    waiter: std::thread::current(),
                    cancel: Mutex::new(Cancel::default()),
                    baton: Arc::new(AtomicBool::new(false)),
                });
                let filled = slot.clone();
                self.submit(Box::pin(async move {
                    let Some(result) = (Cancellable { slot: &filled, fut }).await else {
                        return; // Ctrl-C: the caller has gone
                    };
                    *lock(&filled.value) = Some(result);
                    self.finished(&filled.waiter, &filled.baton);
                }));
                Call::Queued(slot)
            }
            other => other,
        };
        let Call::Queued(slot) = call else {
            return call;
        };
        let deadline = limit.map(|l| Instant::now() + l);
        loop {
            if let Some(result) = lock(&slot.value).take() {
                self.leave(&slot.baton);
                return Call::Done(result);
            }
            match deadline {
                None => std::thread::park(),
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => std::thread::park_timeout(left),
                    _ => return Call::Queued(slot),
                },
            }
        }
    }

    /// Runs `call` to its end or for `limit`: inline when it is the only blocking call in
    /// flight, queued otherwise (a call keeps the way it started).
    fn run<T: Send + 'static>(&'static self, call: Call<T>, limit: Option<Duration>) -> Call<T> {
        let alone = self.callers.fetch_add(1, SeqCst) == 0;
        let out = match call {
            Call::Pending(_) if alone => self.run_inline(call, limit),
            _ => self.run_queued(call, limit),
        };
        if self.callers.fetch_sub(1, SeqCst) > 1 && !self.background.load(SeqCst) {
            // Queued calls may be waiting on a runtime nobody drives now.
            self.wake_background();
        }
        out
    }

    /// Hands `call` to the submitter task, which spawns every call queued since its last
    /// run on the runtime's own thread: calls queued together are then written to the
    /// connection together, and only the first of them costs a wake-up of the runtime.
    fn submit(&'static self, call: Pin<Box<dyn Future<Output = ()> + Send>>) {
        let mut submitted = lock(&self.submitted);
        submitted.calls.push(call);
        let start = !std::mem::replace(&mut submitted.started, true);
        let idle = submitted.idle.take();
        drop(submitted);
        if start {
            self.rt
                .spawn(std::future::poll_fn(move |cx| self.spawn_submitted(cx)));
        }
        if let Some(waker) = idle {
            waker.wake();
        }
        self.kick();
    }

    /// The submitter task's body: spawns the queued calls, then waits for more.
    fn spawn_submitted(&self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let calls = {
                let mut submitted = lock(&self.submitted);
                if submitted.calls.is_empty() {
                    submitted.idle = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                std::mem::take(&mut submitted.calls)
            };
            for call in calls {
                tokio::spawn(call);
            }
        }
    }

    /// A queued call finished: wake its caller now, or queue it behind the chain of
    /// callers already being woken. Each woken caller wakes the next ([`Driver::leave`])
    /// before it takes the GIL, so this thread makes one wake-up per batch instead of
    /// one per call, and the callers reach the GIL one after the other.
    fn finished(&self, waiter: &Thread, baton: &Arc<AtomicBool>) {
        let mut ready = lock(&self.ready);
        if ready.chain {
            ready.waiting.push_back((waiter.clone(), baton.clone()));
            return;
        }
        ready.chain = true;
        baton.store(true, SeqCst);
        drop(ready);
        waiter.unpark();
    }

    /// A caller with a finished (or abandoned) queued call leaves: if the chain woke it,
    /// it wakes the next caller; if the chain has not reached it yet, it steps out of it.
    fn leave(&self, baton: &Arc<AtomicBool>) {
        let mut ready = lock(&self.ready);
        if let Some(at) = ready
            .waiting
            .iter()
            .position(|(_, b)| Arc::ptr_eq(b, baton))
        {
            ready.waiting.remove(at);
            return;
        }
        if !baton.load(SeqCst) {
            return; // not finished: not in the chain at all
        }
        match ready.waiting.pop_front() {
            Some((next, next_baton)) => {
                next_baton.store(true, SeqCst);
                drop(ready);
                next.unpark();
            }
            None => ready.chain = false,
        }
    }

    fn wake_background(&self) {
        *lock(&self.kicked) = true;
        self.wake.notify_one();
    }

    /// Drives the runtime on this thread until `fut` is ready or `limit` passes.
    fn drive<F: Future>(&self, fut: Pin<&mut F>, limit: Duration) -> Option<F::Output> {
        self.callers.fetch_add(1, SeqCst);
        self.inline.store(true, SeqCst);
        if self.background.load(SeqCst) {
            self.let_go.notify_one();
        }
        let out = self
            .rt
            .block_on(async { tokio::time::timeout(limit, fut).await.ok() });
        self.last_left.store(self.now(), SeqCst);
        self.inline.store(false, SeqCst);
        if self.callers.fetch_sub(1, SeqCst) > 1 && !self.background.load(SeqCst) {
            self.wake_background();
        }
        out
    }
}

/// Where a queued call's task leaves its result for the thread waiting on it.
struct Slot<T> {
    value: Mutex<Option<Result<T, Failure>>>,
    waiter: Thread,
    cancel: Mutex<Cancel>,
    /// Set (under [`Driver::ready`]'s lock) when this caller was woken by the chain: it
    /// must wake the next one.
    baton: Arc<AtomicBool>,
}

/// Callers whose queued call finished, to wake one after the other (see
/// [`Driver::finished`]).
#[derive(Default)]
struct Ready {
    waiting: std::collections::VecDeque<(Thread, Arc<AtomicBool>)>,
    chain: bool,
}

/// Ctrl-C on a queued call: the flag, and the task to wake so that it sees it.
#[derive(Default)]
struct Cancel {
    requested: bool,
    task: Option<Waker>,
}

/// A queued call's future, ended early (`None`) when its caller cancels it.
struct Cancellable<'a, T> {
    slot: &'a Slot<T>,
    fut: Pin<Box<dyn Future<Output = Result<T, Failure>> + Send>>,
}

impl<T> Future for Cancellable<'_, T> {
    type Output = Option<Result<T, Failure>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        {
            let mut cancel = lock(&self.slot.cancel);
            if cancel.requested {
                return Poll::Ready(None);
            }
            if !cancel
                .task
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                cancel.task = Some(cx.waker().clone());
            }
        }
        self.fut.as_mut().poll(cx).map(Some)
    }
}

/// A blocking call: not started or partly run inline (polled by its caller), queued
/// (a task on the runtime), or finished.
enum Call<T> {
    Pending(Pin<Box<dyn Future<Output = Result<T, Failure>> + Send>>),
    Queued(Arc<Slot<T>>),
    Done(Result<T, Failure>),
}

impl<T> Call<T> {
    /// Cancels a call not finished (Ctrl-C): a queued call's task drops it, a pending
    /// future is dropped with `self`.
    fn abort(self) {
        if let Call::Queued(slot) = self {
            {
                let mut cancel = lock(&slot.cancel);
                cancel.requested = true;
                if let Some(task) = cancel.task.take() {
                    task.wake();
                }
            }
            if let Ok(driver) = driver() {
                driver.leave(&slot.baton);
            }
        }
    }
}

/// Runs `fut` to completion with the GIL released (see the module's documentation).
/// Ctrl-C (a Python signal handler raising) cancels it.
pub fn wait<T, F>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = Result<T, Failure>> + Send + 'static,
    T: Send + 'static,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        // E.g. a finalizer run by an asyncio completion on the runtime's own thread.
        return Err(Failure::Internal(
            "a blocking soup_rpc call from inside soup_rpc's runtime (a finalizer or \
             callback run by it); use soup_rpc.aio there"
                .into(),
        )
        .into_pyerr());
    }
    let driver = driver().map_err(Failure::into_pyerr)?;
    let poll = on_main_thread().then_some(SIGNAL_POLL);
    let mut call = Call::Pending(Box::pin(guarded(fut)));
    loop {
        call = py.detach(|| driver.run(call, poll));
        if let Call::Done(result) = call {
            return result.map_err(Failure::into_pyerr);
        }
        if let Err(interrupted) = py.check_signals() {
            call.abort();
            return Err(interrupted);
        }
    }
}

/// Whether this is the process's main thread, the one where Python runs signal handlers.
fn on_main_thread() -> bool {
    thread_local! {
        // SAFETY: getpid and gettid have no preconditions.
        static MAIN: bool = unsafe { libc::gettid() == libc::getpid() };
    }
    MAIN.with(|m| *m)
}

/// Runs `fut` (panics caught) on the runtime without waiting for it.
pub fn spawn<F>(fut: F) -> Result<(), Failure>
where
    F: Future<Output = ()> + Send + 'static,
{
    let driver = driver()?;
    driver.rt.spawn(async move {
        if let Err(panic) = CatchUnwind(Box::pin(fut)).await {
            eprintln!("soup_rpc: internal error in a background task: panic: {panic}");
        }
    });
    driver.kick();
    Ok(())
}

/// Drives the runtime on this thread until `fut` is done or `limit` passes, without
/// Python (for `Drop`); false when it did not finish. Does nothing on the runtime's
/// own threads.
pub fn block_on_for<F>(fut: F, limit: Duration) -> bool
where
    F: Future<Output = ()>,
{
    let Ok(driver) = driver() else { return false };
    if tokio::runtime::Handle::try_current().is_ok() {
        return false;
    }
    let fut = pin!(fut);
    driver.drive(fut, limit).is_some()
}

/// Spawns `fut` on the runtime (from outside it) and makes sure a thread drives it.
pub fn spawn_task<T, F>(fut: F) -> Result<tokio::task::JoinHandle<T>, Failure>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let driver = driver()?;
    let task = driver.rt.spawn(fut);
    driver.kick();
    Ok(task)
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
