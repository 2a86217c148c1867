//! `soup-server`: the KV plugin binary. Run by a go-plugin host, never by hand.
//!
//! Exit codes: 0 after a shutdown, 1 on a wrong magic cookie or any startup error
//! (reported on stderr), 2 on a usage error.

// mimalloc, not glibc's malloc: glibc maps and zeroes every large buffer afresh, which
// made page faults a fifth of a 1 MiB Put's cost (see plugin_core::transport::h2 for the
// rest of that measurement). Built without transparent huge pages, which doubled peak RSS.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    soup_server::cli_main()
}
