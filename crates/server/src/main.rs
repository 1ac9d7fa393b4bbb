//! The `shiphold` binary: reads the configuration, builds the parts and hands them over.
//! It holds no business rule; those live in `shiphold-domain` and `shiphold-api`.

mod serve;
mod settings;
mod telemetry;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use shiphold_domain::SystemClock;
use shiphold_storage::{Store, StoreOptions};

use crate::settings::{ConfigError, Loaded, Settings};

/// Exit code for a configuration that cannot be used (the same code clap uses for bad arguments).
const EXIT_CONFIG: u8 = 2;

#[derive(Parser)]
#[command(
    name = "shiphold",
    version,
    about = "Shiphold: stop the shipment of paid orders while refunds are switched off",
    long_about = None,
)]
struct Cli {
    /// A configuration file (TOML); without it `shiphold.toml` in the working directory is read if present.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API and run the delivery jobs (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage shops.
    #[command(subcommand)]
    Shop(ShopCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Print the effective configuration as TOML, secrets masked.
    Config,
}

#[derive(Subcommand)]
enum ShopCommand {
    /// Create a shop and print its first API key (shown once).
    Create {
        /// The shop's display name.
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create an API key for an existing shop and print it (shown once): the way back into a
    /// shop whose keys were lost.
    Create {
        /// The shop's id, as `shiphold shop create` printed it.
        #[arg(long)]
        shop: String,
        /// What the key is for.
        #[arg(long, default_value = "operator key")]
        label: String,
        /// Its roles, comma-separated: admin, agent, integration.
        #[arg(long, value_delimiter = ',', default_value = "admin,agent,integration")]
        roles: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let loaded = match Settings::load(cli.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(err) => return config_failure(&err),
    };
    let command = cli.command.unwrap_or(Command::Serve);

    if matches!(command, Command::Config) {
        if let Some(file) = &loaded.file {
            println!("# layers: defaults, {}, environment", file.display());
        } else {
            println!("# layers: defaults, environment");
        }
        print!("{}", loaded.settings.to_masked_toml());
        return ExitCode::SUCCESS;
    }

    if let Err(err) = telemetry::init(&loaded.settings) {
        return config_failure(&err);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            return failure(&anyhow::Error::new(err).context("could not start the runtime"));
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Serve => serve::run(loaded).await,
            Command::Migrate => migrate(&loaded).await,
            Command::Shop(ShopCommand::Create { name }) => create_shop(&loaded, &name).await,
            Command::Key(KeyCommand::Create { shop, label, roles }) => {
                create_key(&loaded, &shop, &label, &roles).await
            }
            Command::Config => Ok(()),
        }
    });
    // Blocking tasks (database connections) must not hold the exit up after a clean stop.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => match err.downcast_ref::<ConfigError>() {
            Some(config) => config_failure(config),
            None => failure(&err),
        },
    }
}

fn config_failure(err: &ConfigError) -> ExitCode {
    eprintln!("error: {err}");
    ExitCode::from(EXIT_CONFIG)
}

fn failure(err: &anyhow::Error) -> ExitCode {
    // `{:#}` puts the cause chain on one line; drivers' own messages may still span several
    // (libpq's do), and operators grep for one line.
    let text = format!("{err:#}");
    let line: Vec<&str> = text.split_whitespace().collect();
    eprintln!("error: {}", line.join(" "));
    ExitCode::FAILURE
}

/// Connects to the configured database (the store creates an SQLite file and its folder) and
/// migrates it when `migrate` is set.
pub(crate) async fn open_store(settings: &Settings, migrate: bool) -> Result<Store> {
    let url = &settings.database.url;
    let options = StoreOptions {
        max_connections: settings.database.max_connections,
        connect_timeout: Duration::from_secs(settings.database.connect_timeout_seconds),
        busy_timeout: Duration::from_millis(settings.database.busy_timeout_ms),
    };

    let shown = settings.database_url_masked();
    let store = Store::connect(url, options)
        .await
        .with_context(|| format!("could not open the database {shown}"))?;
    tracing::info!(backend = ?store.backend(), url = %shown, "database opened");
    if migrate {
        let applied = store
            .migrate()
            .await
            .with_context(|| format!("could not migrate the database {shown}"))?;
        if applied.is_empty() {
            tracing::info!("database schema is up to date");
        } else {
            tracing::info!(applied = ?applied, "applied {} migration(s)", applied.len());
        }
    }
    Ok(store)
}

async fn migrate(loaded: &Loaded) -> Result<()> {
    let store = open_store(&loaded.settings, false).await?;
    let applied = store
        .migrate()
        .await
        .context("could not migrate the database")?;
    if applied.is_empty() {
        println!("database schema is up to date; no migration pending");
    } else {
        println!("applied {} migration(s):", applied.len());
        for name in applied {
            println!("  {name}");
        }
    }
    Ok(())
}

async fn create_shop(loaded: &Loaded, name: &str) -> Result<()> {
    let store = open_store(&loaded.settings, loaded.settings.database.migrate_on_start).await?;
    let app = shiphold_api::AppState::new(
        store,
        std::sync::Arc::new(SystemClock),
        loaded.settings.api_config(None),
    );
    let created = shiphold_api::service::shops::create_shop(&app, name)
        .await
        .context("could not create the shop")?;
    println!("shop created");
    println!("shop id: {}", created.shop_id);
    println!("api key id: {}", created.key_id);
    println!("api key: {}", created.api_key);
    println!(
        "This API key will not be shown again: store it now. It has the admin, agent and integration roles."
    );
    Ok(())
}

async fn create_key(loaded: &Loaded, shop: &str, label: &str, roles: &[String]) -> Result<()> {
    let shop = shiphold_domain::ShopId::parse(shop).map_err(|e| anyhow::anyhow!("--shop: {e}"))?;
    let store = open_store(&loaded.settings, loaded.settings.database.migrate_on_start).await?;
    let app = shiphold_api::AppState::new(
        store,
        std::sync::Arc::new(SystemClock),
        loaded.settings.api_config(None),
    );
    let created = shiphold_api::service::keys::create_for_operator(&app, shop, label, roles)
        .await
        .context("could not create the API key")?;
    println!("api key created");
    println!("api key id: {}", created.record.id);
    println!("roles: {}", created.record.roles.join(", "));
    println!("api key: {}", created.secret);
    println!("This API key will not be shown again: store it now.");
    Ok(())
}
