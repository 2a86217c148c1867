//! `soup-server`: the KV plugin binary. Run by a go-plugin host, never by hand.
//!
//! Exit codes: 0 after a shutdown, 1 on a wrong magic cookie or any startup error
//! (reported on stderr), 2 on a usage error.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    soup_server::cli_main()
}
