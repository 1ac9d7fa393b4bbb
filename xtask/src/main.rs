//! Developer tasks for Shiphold, run as `cargo xtask <task>` (a cargo alias in `.cargo/config.toml`).
//!
//! Kept to few dependencies; `codegen` also links the API and the ERP adapter, whose code it
//! renders into `docs/`.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

mod codegen;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Ci => ci(),
        Task::Codegen { check: false } => codegen::codegen(&workspace_root()),
        Task::Codegen { check: true } => codegen::check(&workspace_root()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn ci() -> Result<()> {
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
