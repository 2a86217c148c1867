//! soup-py: the `soup_rpc._native` extension module, soup-rpc's Rust go-plugin host
//! in-process for Python.
//!
//! Python code launches any go-plugin KV plugin (Rust, Go, Python) through
//! [`soup_client::KvClient`]: AutoMTLS with any key type (stock Go plugins' P-521
//! included), typed failures as `soup_rpc` exceptions, blocking calls that release the
//! GIL and asyncio awaitables, all on one process-wide tokio runtime. The pure-Python
//! package `soup_rpc` (python/soup_rpc) is the public surface; this module is its engine.
//!
//! Layout: [`runtime`] (the runtime, GIL-free waiting, panic containment), [`aio`]
//! (asyncio futures fed from the runtime without taking the GIL there), [`session`]
//! (one plugin shared by every handle, killed and reaped when dropped), [`client`] (the
//! Python classes), [`info`] (frozen value objects), [`errors`] (Rust errors → Python
//! exceptions), [`launch`] (argument validation), [`peer`] (the peer contract's client),
//! [`raw`] + [`codec`] + [`channel`] (any method's calls with serialized messages, under
//! `soup_rpc`'s grpcio-compatible channel).
#![warn(missing_docs)]

mod aio;
mod channel;
mod client;
mod errors;
mod info;
mod launch;
mod peer;
mod raw;
mod runtime;
mod session;

use pyo3::prelude::*;

// The extension's own allocations (request and response buffers, the runtime's tasks)
// come from mimalloc, as in the `soup` binary: glibc's malloc maps and zeroes every
// large buffer afresh (a 1 MiB Put faulted in ~256 pages per copy). Nothing allocated
// here is freed by Python or the reverse: values cross as copies into Python objects,
// or as Python-owned buffers (`PyBackedBytes`) released by Python.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Closes every client still open; `soup_rpc` registers it with `atexit`.
#[pyfunction]
fn close_all(py: Python<'_>) -> PyResult<()> {
    runtime::wait(py, async {
        session::close_all().await;
        Ok(())
    })
}

/// The Rust host of soup-rpc, in-process (use it through the `soup_rpc` package).
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<client::KvClient>()?;
    m.add("AsyncKvClient", m.py().get_type::<client::AsyncKvClient>())?;
    m.add_class::<info::Handshake>()?;
    m.add_class::<info::Certificate>()?;
    m.add_class::<info::PluginExit>()?;
    m.add_class::<channel::RawChannel>()?;
    m.add_class::<channel::RawStream>()?;
    m.add_function(wrap_pyfunction!(peer::run_peer_client, m)?)?;
    m.add_function(wrap_pyfunction!(close_all, m)?)?;
    Ok(())
}
