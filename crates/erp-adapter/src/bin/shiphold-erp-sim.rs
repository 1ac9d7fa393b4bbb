//! `shiphold-erp-sim`: runs the ERP simulator from the command line, for demos and for
//! integrators who want to compare their ERP's answers with a reference.

use clap::{Parser, ValueEnum};
use shiphold_erp_adapter::sim::{SimConfig, SimMode, SimRules, Simulator};
use shiphold_erp_adapter::{Outcome, Secret};
use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutcomeArg {
    Locked,
    Failed,
    #[value(name = "already_shipped")]
    AlreadyShipped,
}

impl From<OutcomeArg> for Outcome {
    fn from(o: OutcomeArg) -> Self {
        match o {
            OutcomeArg::Locked => Outcome::Locked,
            OutcomeArg::Failed => Outcome::Failed,
            OutcomeArg::AlreadyShipped => Outcome::AlreadyShipped,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    /// Results in the delivery's response.
    Sync,
    /// 202 at once, results later through Shiphold's callback endpoint.
    Callback,
}

/// An ERP simulator: receives Shiphold's signed interception messages on 127.0.0.1 and answers
/// `locked`, `failed` or `already_shipped` by rule.
#[derive(Debug, Parser)]
#[command(name = "shiphold-erp-sim", version)]
struct Args {
    /// The shop's `whsec_` secret. Without one, a secret is generated and printed.
    #[arg(long, env = "SHIPHOLD_ERP_SIM_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8090)]
    port: u16,
    /// The outcome of every item without an override.
    #[arg(long, value_enum, default_value = "locked")]
    outcome: OutcomeArg,
    /// Per-item outcome, `SUB_ORDER_ID=OUTCOME` (repeatable), e.g. `so-2=already_shipped`.
    #[arg(long = "override", value_name = "SUB_ORDER_ID=OUTCOME")]
    overrides: Vec<String>,
    /// The reason given with `failed`.
    #[arg(long, default_value = "the simulator was told to fail this item")]
    failure_reason: String,
    /// Where results go.
    #[arg(long, value_enum, default_value = "sync")]
    mode: ModeArg,
    /// Shiphold's base URL, for callback mode.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    shiphold_base: String,
    /// Delay before a callback, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    callback_delay_ms: u64,
    /// Delay before answering any request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    response_delay_ms: u64,
    /// Answer 503 to the first N requests.
    #[arg(long, default_value_t = 0)]
    fail_first: u32,
    /// Answer 410 Gone to every request.
    #[arg(long)]
    gone: bool,
}

fn parse_override(text: &str) -> Result<(String, Outcome), String> {
    let (id, outcome) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: expected SUB_ORDER_ID=OUTCOME"))?;
    let outcome = outcome.parse::<Outcome>().map_err(|e| e.to_string())?;
    Ok((id.to_owned(), outcome))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let secret = match &args.secret {
        Some(text) => match Secret::parse(text) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("shiphold-erp-sim: --secret: {e}");
                return ExitCode::from(2);
            }
        },
        None => {
            let s = Secret::generate();
            println!("secret: {}", s.to_whsec());
            s
        }
    };
    let mut overrides = HashMap::new();
    for text in &args.overrides {
        match parse_override(text) {
            Ok((id, outcome)) => {
                overrides.insert(id, outcome);
            }
            Err(e) => {
                eprintln!("shiphold-erp-sim: --override {e}");
                return ExitCode::from(2);
            }
        }
    }
    let mut config = SimConfig::new(secret);
    config.port = args.port;
    config.log = true;
    config.rules = SimRules {
        default_outcome: args.outcome.into(),
        overrides,
        failure_reason: args.failure_reason.clone(),
        response_delay: Duration::from_millis(args.response_delay_ms),
    };
    config.mode = match args.mode {
        ModeArg::Sync => SimMode::Sync,
        ModeArg::Callback => SimMode::Callback {
            shiphold_base: args.shiphold_base.clone(),
            delay: Duration::from_millis(args.callback_delay_ms),
        },
    };
    let sim = match Simulator::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("shiphold-erp-sim: cannot listen on port {}: {e}", args.port);
            return ExitCode::FAILURE;
        }
    };
    if args.fail_first > 0 {
        sim.fail_next(args.fail_first);
    }
    sim.set_gone(args.gone);
    println!("listening: {}", sim.url());
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("shiphold-erp-sim: cannot wait for Ctrl-C: {e}");
    }
    sim.shutdown().await;
    ExitCode::SUCCESS
}
