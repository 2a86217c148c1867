//! soup-server's entry point, built inside this test crate so its tests can spawn it.
fn main() -> std::process::ExitCode {
    soup_server::cli_main()
}
