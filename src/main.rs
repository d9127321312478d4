//! dnsleak's entry point: parse the command line, run the command, map the outcome to the exit
//! status (0 clean, 1 leak or bypass seen, 2 error or an incomplete result) and print errors as one line with their
//! cause chain.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use dnsleak::cli::{Cli, Command};
use dnsleak::Outcome;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(Outcome::Clean) => ExitCode::from(0),
        Ok(Outcome::Exposed) => ExitCode::from(1),
        Ok(Outcome::Incomplete(why)) => {
            let _ = writeln!(io::stderr(), "dnsleak: {}", dnsleak::output::escape::escape(&why));
            ExitCode::from(2)
        }
        Err(err) => {
            if dnsleak::is_broken_pipe(&err) {
                return ExitCode::from(0);
            }
            // `{:#}`: the error and its causes on one line, `what failed: why: ...`. The whole
            // line is escaped: error messages carry file paths, interface names and text from
            // the OS, any of which may hold terminal escapes.
            let mut line = format!("{err:#}");
            if dnsleak::system::sandbox::maybe_refused(&err) {
                line.push_str(dnsleak::system::sandbox::REFUSED_HINT);
            }
            let _ = writeln!(io::stderr(), "dnsleak: {}", dnsleak::output::escape::escape(&line));
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Monitor(args) => dnsleak::app::monitor::run(&args),
        Command::Replay(args) => dnsleak::app::replay::run(&args),
        Command::Check(args) => dnsleak::app::check::run(&args),
        Command::Bench(args) => dnsleak::app::bench::run(&args).map(|()| Outcome::Clean),
        Command::Facts(args) => dnsleak::app::facts::run(&args).map(|()| Outcome::Clean),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "dnsleak", &mut io::stdout());
            Ok(Outcome::Clean)
        }
        Command::Procs(args) => dnsleak::app::procs::run(&args).map(|()| Outcome::Clean),
        Command::OnLeakLauncher { log, command } => {
            dnsleak::app::service::launcher(&command, log).map(|()| Outcome::Clean)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut io::stdout())?;
            Ok(Outcome::Clean)
        }
    }
}
