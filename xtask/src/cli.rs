//! The command line of `cargo xtask`, on clap: every subcommand answers `--help`.

use clap::{Parser, Subcommand};

/// Cases per property test when `fuzz --cases` is not given.
pub(crate) const FUZZ_CASES: u64 = 1_000_000;

/// The phases of `bench`, in the order they run: all of them unless `--only` says.
const PHASES: &str = "abcdefghij";

/// Phases that run only when `--only` names them: (m), a million projects (about
/// 6 minutes, and the rest of the machine's attention).
const ON_REQUEST: &str = "m";

/// The operator's and developer's entry points of the federation workspace.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
pub(crate) struct Cli {
    /// None: print the help (and succeed), as `cargo xtask help` does.
    #[command(subcommand)]
    pub(crate) command: Option<Xtask>,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub(crate) enum Xtask {
    /// Run the federation service (`cargo run … serve`), passing ARGS on.
    Serve {
        /// Arguments for `federation serve` (e.g. --migrate).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Apply pending migrations (default: DATABASE_URL, else data/federation.db).
    Migrate {
        /// Arguments for `federation migrate` (e.g. --database-url URL).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Start a throwaway PostgreSQL and nats-server, migrate, serve until Ctrl-C.
    Dev {
        /// Arguments for `federation serve`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Install PostgreSQL/nats-server/promtool/chromium if missing (root + apt), run all
    /// tests.
    Test {
        /// Arguments for `cargo test`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Release build; measure ingest, REST, detection, steady state, 3 replicas, SSE
    /// fan-out, uptime reports and notification deliveries against a throwaway
    /// PostgreSQL + nats-server. The table goes to
    /// bench/report.md under cargo's target directory.
    Bench {
        /// Only these phases (for working on one), e.g. `a,d`: a to j, and m (a million
        /// projects), which runs only when named.
        #[arg(long, value_name = "PHASES", value_parser = phases, default_value = PHASES)]
        only: String,
    },
    /// Release build; 3 replicas, 100,000 projects beating every 30 s, churn, REST load,
    /// a PostgreSQL and a nats-server outage, for N minutes. RSS, CPU and errors every
    /// minute; checks memory growth, lost status changes and 5xx. The report goes to
    /// soak/report.md under cargo's target directory.
    Soak {
        /// How long, in minutes: at least 3 (a warm-up, two outages and a recovery).
        #[arg(long, value_name = "N", default_value_t = 30,
              value_parser = clap::value_parser!(u64).range(3..))]
        minutes: u64,
    },
    /// The property tests (every fuzz_* test: heartbeat bytes and JSON, registration,
    /// list query, registration and patch bodies, query strings, the catalog file);
    /// `test` runs them with proptest's 256 cases.
    Fuzz {
        /// Cases per target (`1_000_000` is fine).
        #[arg(long, value_name = "N", default_value_t = FUZZ_CASES, value_parser = cases)]
        cases: u64,
        /// A debug build instead of a release one.
        #[arg(long)]
        debug: bool,
    },
    /// Build the federation container image with Podman from a binary built here: the
    /// release binary, the local base image (localhost/debian:bookworm-slim, made with
    /// debootstrap, cached under cargo's target directory), then `podman build` on
    /// deploy/Dockerfile with the stripped binary. Prints the image's size.
    Image(crate::image::ImageArgs),
    /// schemathesis (in a venv it makes under cargo's target directory) against the
    /// service's own /openapi.json, every check, a fixed seed: fails on any disagreement
    /// between the description and what the service does.
    Conformance(crate::conformance::ConformanceArgs),
}

/// `a,d` → `ad`: each a known phase.
fn phases(raw: &str) -> Result<String, String> {
    let picked: String = raw.split(',').map(str::trim).collect();
    let known = |c: char| PHASES.contains(c) || ON_REQUEST.contains(c);
    match picked.chars().find(|c| !known(*c)) {
        _ if picked.is_empty() => Err("names no phase".into()),
        Some(c) => Err(format!(
            "{c:?} is not a phase (phases: {PHASES} and, on request, {ON_REQUEST})"
        )),
        None => Ok(picked),
    }
}

/// A positive number, `_` allowed between digits.
fn cases(raw: &str) -> Result<u64, String> {
    raw.replace('_', "")
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| "takes a positive number".into())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Xtask, clap::Error> {
        Cli::try_parse_from(std::iter::once("xtask").chain(args.iter().copied()))
            .map(|cli| cli.command.expect("a subcommand"))
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_answers_help() {
        let names: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .collect();
        assert!(names.len() >= 7, "{names:?}");
        for name in &names {
            let err = parse(&[name, "--help"]).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp, "{name}");
            // `--help` exits with status 0.
            assert_eq!(err.exit_code(), 0, "{name}");
        }
        assert_eq!(
            parse(&["--help"]).unwrap_err().kind(),
            clap::error::ErrorKind::DisplayHelp
        );
    }

    #[test]
    fn phases_default_to_all_and_only_picks_some() {
        assert!(matches!(parse(&["bench"]), Ok(Xtask::Bench { only }) if only == "abcdefghij"));
        assert!(matches!(
            parse(&["bench", "--only", "a,d"]),
            Ok(Xtask::Bench { only }) if only == "ad"
        ));
        assert!(parse(&["bench", "--only", "a,z"]).is_err());
        assert!(
            matches!(parse(&["bench", "--only", "m"]), Ok(Xtask::Bench { only }) if only == "m")
        );
        assert!(parse(&["bench", "--only", ""]).is_err());
        assert!(parse(&["bench", "--fast"]).is_err());
    }

    #[test]
    fn minutes_default_to_thirty_and_take_three_or_more() {
        assert!(matches!(parse(&["soak"]), Ok(Xtask::Soak { minutes: 30 })));
        assert!(matches!(
            parse(&["soak", "--minutes", "5"]),
            Ok(Xtask::Soak { minutes: 5 })
        ));
        assert!(parse(&["soak", "--minutes", "2"]).is_err());
        assert!(parse(&["soak", "--minutes", "x"]).is_err());
        assert!(parse(&["soak", "--hours", "1"]).is_err());
    }

    #[test]
    fn fuzz_takes_cases_and_debug() {
        assert!(matches!(
            parse(&["fuzz"]),
            Ok(Xtask::Fuzz {
                cases: FUZZ_CASES,
                debug: false
            })
        ));
        assert!(matches!(
            parse(&["fuzz", "--cases", "10_000", "--debug"]),
            Ok(Xtask::Fuzz {
                cases: 10_000,
                debug: true
            })
        ));
        assert!(parse(&["fuzz", "--cases", "0"]).is_err());
    }

    #[test]
    fn pass_through_subcommands_keep_their_arguments() {
        assert!(matches!(
            parse(&["serve", "--migrate"]),
            Ok(Xtask::Serve { args }) if args == ["--migrate"]
        ));
        assert!(matches!(
            parse(&["test", "-p", "federation-domain", "--", "--nocapture"]),
            Ok(Xtask::Test { args }) if args == ["-p", "federation-domain", "--", "--nocapture"]
        ));
    }
}
