//! `buildmail completions <shell>`: a shell completion script, generated
//! from the command line's own definition (clap_complete).

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

/// Options of `completions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Prints the completion script for `args.shell` on standard output.
/// Where it goes: bash `/usr/share/bash-completion/completions/buildmail`,
/// zsh `/usr/share/zsh/vendor-completions/_buildmail`, fish
/// `/usr/share/fish/vendor_completions.d/buildmail.fish` (what the Debian
/// package installs).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut cmd = super::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "buildmail", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
