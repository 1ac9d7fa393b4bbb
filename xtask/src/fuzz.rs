//! `cargo xtask api-fuzz`: schemathesis against the served `/openapi.json` of a demo shop. Every
//! check schemathesis has runs (no 5xx, every answer as documented, every error a problem
//! document, valid requests accepted, invalid ones refused, a missing credential answering 401),
//! over a bounded number of examples per operation, generated deterministically so that CI runs
//! the same cases each time (`--seed` explores others).
//!
//! schemathesis comes from PyPI; `.ci/run` installs a pinned version into
//! `target/schemathesis-venv` and passes it with `--schemathesis`. The hooks in
//! `xtask/api-fuzz/shiphold_fuzz_hooks.py` keep generated requests to the rules the docs state and
//! JSON Schema cannot (each is listed there).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::demo::{self, step};

pub(crate) struct Options {
    /// The schemathesis executable.
    pub schemathesis: PathBuf,
    /// Examples per operation in the fuzzing phase.
    pub max_examples: u32,
    /// A seed for random generation; without one the cases are deterministic.
    pub seed: Option<u64>,
}

/// Where `.ci/run` installs schemathesis.
pub(crate) fn venv_schemathesis(root: &Path) -> PathBuf {
    crate::release::target_dir(root)
        .join("schemathesis-venv")
        .join("bin")
        .join("schemathesis")
}

pub(crate) fn api_fuzz(root: &Path, opts: &Options) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("could not start the runtime")?;
    runtime.block_on(run(root, opts))
}

async fn run(root: &Path, opts: &Options) -> Result<()> {
    // schemathesis runs in the demo's directory: a relative path (one with a folder in it)
    // means one from here.
    let schemathesis =
        if opts.schemathesis.is_relative() && opts.schemathesis.components().count() > 1 {
            std::env::current_dir()
                .context("no working directory")?
                .join(&opts.schemathesis)
        } else {
            opts.schemathesis.clone()
        };
    let dir = crate::release::target_dir(root).join("api-fuzz");
    let mut running = demo::start(root, dir, 0).await?;
    let hooks = root.join("xtask").join("api-fuzz");
    let base = running.summary.base_url.clone();
    let token = running
        .summary
        .card_link
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    step(&format!(
        "running {} against {base}/openapi.json",
        schemathesis.display()
    ));
    let status = Command::new(&schemathesis)
        .arg("--config-file")
        .arg(hooks.join("schemathesis.toml"))
        .args(["run", &format!("{base}/openapi.json")])
        .args(["--checks", "all", "--workers", "1"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &opts.max_examples.to_string()])
        .args(match opts.seed {
            Some(seed) => vec!["--seed".to_owned(), seed.to_string()],
            None => vec!["--generation-deterministic".to_owned()],
        })
        .env("PYTHONPATH", &hooks)
        .env("SCHEMATHESIS_HOOKS", "shiphold_fuzz_hooks")
        .env("SHIPHOLD_FUZZ_KEY", &running.summary.api_key)
        .env("SHIPHOLD_FUZZ_ORDERS", demo::ORDERS.join(","))
        .env("SHIPHOLD_FUZZ_TOKEN", token)
        .current_dir(&running.dir)
        .status()
        .with_context(|| {
            format!(
                "could not run {} (install it with `pip install schemathesis`, or pass --schemathesis)",
                schemathesis.display()
            )
        });
    step("stopping the server and the simulators");
    let stopped = running.server.stop();
    running.sim.shutdown().await;
    let status = status?;
    // A server that failed to stop cleanly under fuzzing is a finding too.
    stopped?;
    // Panics are bugs whatever schemathesis saw: the log must have none.
    let log = std::fs::read_to_string(&running.log_path).unwrap_or_default();
    if log.contains("panicked") {
        bail!(
            "the server panicked during the run; see {}",
            running.log_path.display()
        );
    }
    if !status.success() {
        bail!(
            "schemathesis found failures ({status}); the server's log is {}",
            running.log_path.display()
        );
    }
    step("no failures");
    Ok(())
}
