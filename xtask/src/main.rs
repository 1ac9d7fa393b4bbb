//! Developer tasks for Shiphold, run as `cargo xtask <task>` (a cargo alias in `.cargo/config.toml`).
//!
//! Kept to few dependencies; `codegen` also links the API and the ERP adapter, whose code it
//! renders into `docs/`, `demo` runs the adapters' simulators in-process, and `bench` drives
//! the release server with its own load generator and measures the storage crate directly.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

mod bench;
mod codegen;
mod demo;
mod fuzz;
mod release;

/// The README's test command: CI, `.ci/run` and this task all run exactly this.
const TEST_COMMAND: &[&str] = &["test", "--workspace"];

/// Where `.ci/run` and CI expect PostgreSQL; the test suites read the URL from this variable.
const POSTGRES_ADDR: &str = "127.0.0.1:5432";
const POSTGRES_TEST_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const POSTGRES_TEST_VAR: &str = "SHIPHOLD_TEST_POSTGRES_URL";

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Developer tasks for Shiphold",
    version
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run every check CI runs: format, clippy, and the whole test suite (on PostgreSQL too when it answers).
    Ci,
    /// Write the generated files: docs/openapi.json, docs/config.md and the ERP JSON Schemas.
    Codegen {
        /// Write nothing; fail if a committed generated file is stale.
        #[arg(long)]
        check: bool,
    },
    /// Package a release: checks, version bump, CHANGELOG.md, release build, dist/ tarball and SHA256SUMS (a dry run unless --execute).
    #[command(long_about = RELEASE_ABOUT)]
    Release {
        /// The version to release, e.g. 0.2.0 (semantic versioning; the tag is v<VERSION>).
        version: String,
        /// Change nothing tracked (the default): stage, build and package only; the changelog goes to dist/.
        #[arg(long, conflicts_with = "execute")]
        dry_run: bool,
        /// Really release: bump the version and write CHANGELOG.md in the tree, commit, and create the annotated tag v<VERSION> (never pushes).
        #[arg(long)]
        execute: bool,
        /// Go on when `git status --porcelain` is not empty.
        #[arg(long)]
        allow_dirty: bool,
        /// Skip format, clippy and the test suite.
        #[arg(long)]
        skip_checks: bool,
    },
    /// Run schemathesis against the served OpenAPI document of a demo shop: no 5xx, every answer as documented.
    #[command(long_about = FUZZ_ABOUT)]
    ApiFuzz {
        /// The schemathesis executable [default: target/schemathesis-venv/bin/schemathesis if it exists, else `schemathesis`].
        #[arg(long, value_name = "PATH")]
        schemathesis: Option<PathBuf>,
        /// Examples per operation in the fuzzing phase.
        #[arg(long, default_value_t = 30)]
        max_examples: u32,
        /// Generate randomly from this seed instead of the deterministic cases CI runs.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Start the server on a fresh SQLite file with a demo shop, orders and its peers' simulators; print what to open and paste.
    #[command(long_about = DEMO_ABOUT)]
    Demo {
        /// The server's port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// The demo's working directory, emptied first [default: <target dir>/demo].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Intercept an order, check that its items reach `locked` through the simulator, print the summary and stop.
        #[arg(long)]
        once: bool,
    },
    /// Benchmark the release server over HTTP (intake, interceptions, cards, ERP delivery) against the raw limit of the storage crate.
    #[command(long_about = BENCH_ABOUT)]
    Bench {
        /// The database(s) to run on (PostgreSQL: 127.0.0.1:5432, user postgres, trust authentication).
        #[arg(long, value_enum, default_value = "both")]
        backend: bench::BackendChoice,
        /// Orders seeded for the interception phase (and for each raw form) [default: 10000; --quick: 500].
        #[arg(long, value_name = "N")]
        orders: Option<usize>,
        /// Seconds each timed phase runs, after a warm-up [default: 10; --quick: 2].
        #[arg(long, value_name = "SECS")]
        duration: Option<u64>,
        /// Concurrent clients, each with one kept-alive HTTP/1 connection (and tasks of the raw runs).
        #[arg(long, value_name = "C", default_value_t = 16)]
        connections: usize,
        /// ERP messages piled up while no process delivers, then drained [default: 10000; --quick: 500].
        #[arg(long, value_name = "M")]
        backlog: Option<usize>,
        /// Also run the interception phase at 10,000 and at 1,000,000 seeded orders and compare their p99.
        #[arg(long)]
        growth: bool,
        /// Write docs/bench/latest.json and the generated section of docs/benchmarks.md.
        #[arg(long)]
        write_docs: bool,
        /// A tiny run for a smoke test: 500 orders, 2 s per phase, a backlog of 500 (growth: 500 vs 5,000).
        #[arg(long)]
        quick: bool,
    },
}

const RELEASE_ABOUT: &str = "\
Package a release of the shiphold server.

Refuses an invalid version, an existing tag and (without --allow-dirty) a dirty tree; runs the
checks of `cargo xtask ci` (unless --skip-checks); sets the version in [workspace.package] and
the path dependencies of [workspace.dependencies]; regenerates the generated files when the
version changed; adds the commits since the last v* tag to CHANGELOG.md, grouped by area; builds
`cargo build --release -p shiphold-server --bin shiphold` and checks that it reports the version;
writes dist/shiphold-<VERSION>-<TARGET>.tar.gz (bin/shiphold, README.md, LICENSE, CHANGELOG.md,
shiphold.example.toml, migrations/) and dist/SHA256SUMS.

By default this is a dry run: it bumps, regenerates and builds in a staged copy of the working
tree (target/xtask-release/tree), writes the would-be changelog to dist/CHANGELOG.md, changes no
tracked file, and says which tag it would create. With --execute it does the same in the working
tree, then commits `Release <VERSION>` and creates the annotated tag v<VERSION>. It never pushes.
Runs offline (CARGO_NET_OFFLINE=true).";

const FUZZ_ABOUT: &str = "\
Run schemathesis (from PyPI) against a demo shop's server.

Starts the server as `cargo xtask demo` does (a fresh SQLite file in <target dir>/api-fuzz, the
demo shop set up, the ERP simulator), then runs `schemathesis run <base>/openapi.json` with every
check, the examples, coverage and fuzzing phases, one worker, --max-examples per operation and
deterministic generation (or random generation from --seed). The hooks in xtask/api-fuzz/ keep
generated requests to the documented rules that JSON Schema cannot state. Fails when
schemathesis reports a failure or the server's log shows a panic.";

const DEMO_ABOUT: &str = "\
Start a demo of Shiphold and keep it running until Ctrl-C.

Builds shiphold, creates a demo shop on a fresh SQLite file (in <target dir>/demo unless --dir),
starts `shiphold serve` with insecure ERP endpoints allowed, runs the ERP simulator in this
process (it verifies every message with the shop's secret and answers `locked`), the
marketplace simulator (it checks every memo write's signature and keeps each order's memo and
flag) and the Qimen warehouse simulator (it holds and restores the orders' documents), sets the
shop up over HTTP (memo, flag and terms; enable; an event window around now; the ERP link with
locking; the marketplace and Qimen links), pushes three orders (one with an item already
shipped) and sends a card for one. Then prints the base URL, the API key, the console's address,
the buyer card link, the simulators' addresses and commands to paste. Ctrl-C stops the server
and the simulators.";

const BENCH_ABOUT: &str = "\
Benchmark the release server on this machine, per backend.

Builds `cargo build --release -p shiphold-server`, creates a fresh database (an SQLite file under
<target dir>/bench, or a throwaway PostgreSQL database shiphold_bench_<pid>_<label>, dropped at
the end), seeds orders through the storage crate, and starts `shiphold serve` with rate limits off
and insecure ERP endpoints allowed. A minimal ERP receiver in this process verifies every
delivery's signature and answers its items `locked`. Phases, each timed after a warm-up with
--connections clients on one kept-alive connection each, back to back: a backlog of ERP messages
filled while the server delivers nothing, then its drain by a restarted server that delivers;
intake of new orders; direct interceptions of the seeded orders (the receiver counts deliveries
meanwhile); card submissions by buyers on cards made beforehand. Then the same writes straight
through the storage crate on a fresh database (one per transaction, and 32 per transaction), and
the ratio server / raw. Prints a table per backend with the targets; --write-docs also writes
docs/bench/latest.json and the marked section of docs/benchmarks.md. Nothing asserts a target.";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Ci => ci(),
        Task::Codegen { check: false } => codegen::codegen(&workspace_root()),
        Task::Codegen { check: true } => codegen::check(&workspace_root()),
        Task::Release {
            version,
            dry_run: _,
            execute,
            allow_dirty,
            skip_checks,
        } => release::Version::parse(&version).and_then(|version| {
            release::release(
                &workspace_root(),
                &release::Options {
                    version,
                    execute,
                    allow_dirty,
                    skip_checks,
                },
            )
        }),
        Task::ApiFuzz {
            schemathesis,
            max_examples,
            seed,
        } => {
            let root = workspace_root();
            let schemathesis = schemathesis.unwrap_or_else(|| {
                let venv = fuzz::venv_schemathesis(&root);
                if venv.exists() {
                    venv
                } else {
                    PathBuf::from("schemathesis")
                }
            });
            fuzz::api_fuzz(
                &root,
                &fuzz::Options {
                    schemathesis,
                    max_examples,
                    seed,
                },
            )
        }
        Task::Demo { port, dir, once } => {
            demo::demo(&workspace_root(), &demo::Options { port, dir, once }).map(|_| ())
        }
        Task::Bench {
            backend,
            orders,
            duration,
            connections,
            backlog,
            growth,
            write_docs,
            quick,
        } => bench::bench(
            &workspace_root(),
            &bench::Options {
                backend,
                orders,
                duration,
                connections,
                backlog,
                growth,
                write_docs,
                quick,
            },
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn ci() -> Result<()> {
    let root = workspace_root();
    run(&root, &["fmt", "--all", "--", "--check"], &[])?;
    run(
        &root,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;

    // An explicitly set URL wins: a developer may test against another server.
    let mut env = Vec::new();
    if std::env::var_os(POSTGRES_TEST_VAR).is_some() {
        eprintln!("xtask: PostgreSQL tests use {POSTGRES_TEST_VAR} from the environment");
    } else if postgres_answers() {
        eprintln!("xtask: PostgreSQL answers on {POSTGRES_ADDR}; its tests run too");
        env.push((POSTGRES_TEST_VAR, POSTGRES_TEST_URL));
    } else {
        eprintln!(
            "xtask: nothing answers on {POSTGRES_ADDR}; the PostgreSQL tests will be skipped"
        );
    }
    run(&root, TEST_COMMAND, &env)?;
    // The API fuzz needs schemathesis from PyPI, which `.ci/run` installs there.
    let schemathesis = fuzz::venv_schemathesis(&root);
    if schemathesis.exists() {
        fuzz::api_fuzz(
            &root,
            &fuzz::Options {
                schemathesis,
                max_examples: 30,
                seed: None,
            },
        )?;
    } else {
        eprintln!(
            "xtask: {} is not installed; the API fuzz was skipped (.ci/run installs it)",
            schemathesis.display()
        );
    }
    eprintln!("xtask: all checks passed");
    Ok(())
}

fn postgres_answers() -> bool {
    POSTGRES_ADDR
        .parse::<SocketAddr>()
        .is_ok_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok())
}

/// Runs cargo with `args` in `dir`, failing with the command line when it fails.
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    // The cargo that runs xtask, so that toolchain overrides carry over.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let line = format!("cargo {}", args.join(" "));
    eprintln!("xtask: $ {line}");
    let status = Command::new(&cargo)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .status()
        .with_context(|| format!("could not start `{cargo}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

fn workspace_root() -> PathBuf {
    // xtask lives one level below the root; the path is fixed at compile time.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
