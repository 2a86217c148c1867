//! asyncio awaitables for futures run on the runtime, without any Rust thread taking the
//! GIL.
//!
//! Each call is an `asyncio.Future` of the running loop; its Rust future runs as a task
//! on the runtime. The finished task queues its result on the loop's [`Completions`] and,
//! if the queue was empty, writes the loop's eventfd, which the loop watches
//! (`loop.add_reader`): the loop then drains every queued result at once, on its own
//! thread and with the GIL it already holds. So results that finish together cost the
//! loop one wake-up, and nothing touches Python from outside Python's own threads (a
//! runtime or blocking-pool thread taking the GIL can still be inside Python while the
//! interpreter finalizes: pyo3-async-runtimes' `spawn_blocking` + `call_soon_threadsafe`,
//! used before, crashed at exit that way). Cancelling the asyncio future (`Task.cancel`,
//! `asyncio.wait_for`) aborts the task, which cancels the call.

use std::future::Future;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use pyo3::IntoPyObjectExt;
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyCFunction;

use crate::errors::Failure;
use crate::runtime;

/// A finished call's result, turned into Python on the loop's thread.
type Deliver = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// The results waiting for one event loop, and the eventfd that wakes it.
#[pyclass(frozen, module = "soup_rpc.aio")]
pub struct Completions {
    queue: Mutex<Vec<(Py<PyAny>, Deliver)>>,
    fd: OwnedFd,
}

impl Completions {
    fn push(&self, future: Py<PyAny>, deliver: Deliver) {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let first = queue.is_empty();
        queue.push((future, deliver));
        drop(queue);
        if first {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to our eventfd. EAGAIN (counter full)
            // still leaves it readable, which is all the loop needs.
            unsafe { libc::write(self.fd.as_raw_fd(), (&raw const one).cast(), 8) };
        }
    }
}

#[pymethods]
impl Completions {
    /// The loop's reader callback: delivers every queued result.
    fn drain(&self, py: Python<'_>) -> PyResult<()> {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our non-blocking eventfd.
        unsafe { libc::read(self.fd.as_raw_fd(), (&raw mut count).cast(), 8) };
        let ready = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()));
        for (future, deliver) in ready {
            let future = future.into_bound(py);
            if future
                .call_method0(pyo3::intern!(py, "done"))?
                .is_truthy()?
            {
                continue; // cancelled meanwhile
            }
            match deliver(py) {
                Ok(value) => future.call_method1(pyo3::intern!(py, "set_result"), (value,))?,
                Err(e) => {
                    future.call_method1(pyo3::intern!(py, "set_exception"), (e.into_value(py),))?
                }
            };
        }
        Ok(())
    }
}

/// The running loop's [`Completions`], registered with it on first use.
fn completions<'py>(py: Python<'py>, event_loop: &Bound<'py, PyAny>) -> PyResult<Py<Completions>> {
    static BY_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let by_loop = BY_LOOP
        .get_or_try_init(py, || {
            py.import("weakref")?
                .getattr("WeakKeyDictionary")?
                .call0()
                .map(Bound::unbind)
        })?
        .bind(py);
    if let Some(found) = by_loop
        .call_method1("get", (event_loop,))?
        .extract::<Option<Py<Completions>>>()?
    {
        return Ok(found);
    }
    // SAFETY: eventfd has no memory preconditions; the result is checked.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(PyOSError::new_err(format!(
            "soup_rpc.aio: cannot create an eventfd: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: `fd` was just created and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let raw = fd.as_raw_fd();
    let created = Py::new(
        py,
        Completions {
            queue: Mutex::new(Vec::new()),
            fd,
        },
    )?;
    event_loop.call_method1("add_reader", (raw, created.bind(py).getattr("drain")?))?;
    by_loop.set_item(event_loop, &created)?;
    Ok(created)
}

/// An asyncio future of the running loop for `fut`, run on the runtime.
pub fn awaitable<'py, T, F>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, Failure>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
    let done = completions(py, &event_loop)?;
    let future = event_loop.call_method0("create_future")?;
    let target = future.clone().unbind();
    let task = runtime::spawn_task(async move {
        let result = runtime::guarded(fut).await;
        let deliver: Deliver = Box::new(move |py| match result {
            Ok(value) => value.into_py_any(py),
            Err(failure) => Err(failure.into_pyerr()),
        });
        done.get().push(target, deliver);
    })
    .map_err(Failure::into_pyerr)?;
    let abort = Arc::new(task.abort_handle());
    let on_done = PyCFunction::new_closure(py, None, None, move |args, _kwargs| -> PyResult<()> {
        let cancelled = args.get_item(0)?.call_method0("cancelled")?.is_truthy()?;
        if cancelled {
            abort.abort();
        }
        Ok(())
    })?;
    future.call_method1("add_done_callback", (on_done,))?;
    Ok(future)
}
