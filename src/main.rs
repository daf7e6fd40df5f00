//! The `buildmail` binary: see `buildmail --help`.

fn main() -> std::process::ExitCode {
    buildmail::cli::run()
}
