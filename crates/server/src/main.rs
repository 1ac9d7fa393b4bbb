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
    /// Manage the people who sign in to the console.
    #[command(subcommand)]
    Staff(StaffCommand),
    /// Print the effective configuration as TOML, secrets masked.
    Config,
}

#[derive(Subcommand)]
enum ShopCommand {
    /// Create a shop and print its first API key (shown once), and how its first admin signs in
    /// to the console.
    Create {
        /// The shop's display name.
        #[arg(long)]
        name: String,
        /// The first admin's login (an email address will do): they get an invitation link to
        /// choose a password. Without it, invite them later with `shiphold staff invite`.
        #[arg(long)]
        admin_login: Option<String>,
        /// The first admin's name, as the console and the history show it.
        #[arg(long, default_value = "Admin")]
        admin_name: String,
    },
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Invite a person to a shop's console and print their invitation link (shown once): the
    /// first admin, or the way back into a shop whose admins are gone.
    Invite {
        /// The shop's id, as `shiphold shop create` printed it.
        #[arg(long)]
        shop: String,
        /// What they will sign in with (an email address will do).
        #[arg(long)]
        login: String,
        /// Their name, as the console and the history show it.
        #[arg(long)]
        name: String,
        /// `admin` or `agent`.
        #[arg(long, default_value = "admin")]
        role: String,
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
            Command::Shop(ShopCommand::Create {
                name,
                admin_login,
                admin_name,
            }) => create_shop(&loaded, &name, admin_login.as_deref(), &admin_name).await,
            Command::Staff(StaffCommand::Invite {
                shop,
                login,
                name,
                role,
            }) => invite_staff(&loaded, &shop, &login, &name, &role).await,
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

async fn create_shop(
    loaded: &Loaded,
    name: &str,
    admin_login: Option<&str>,
    admin_name: &str,
) -> Result<()> {
    // The admin is checked before anything is made, so a bad login leaves no shop behind.
    let admin = admin_login
        .map(|login| {
            shiphold_api::service::staff::parse_new_staff(login, admin_name, "admin")
                .map_err(|e| anyhow::anyhow!("--admin-login/--admin-name: {e}"))
        })
        .transpose()?;
    let app = operator_app(loaded).await?;
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
    match admin {
        Some(admin) => {
            let invitation = shiphold_api::service::staff::invite_for_operator(
                &app,
                created.shop_id.clone(),
                admin,
            )
            .await
            .context("the shop was created, but its first admin could not be invited")?;
            print_invitation(&invitation);
        }
        None => {
            println!(
                "People sign in to the console at {}/console. Invite the first admin with:",
                app.config().public_base_url
            );
            println!(
                "  shiphold staff invite --shop {} --login <email> --name <name> --role admin",
                created.shop_id
            );
        }
    }
    Ok(())
}

async fn invite_staff(
    loaded: &Loaded,
    shop: &str,
    login: &str,
    name: &str,
    role: &str,
) -> Result<()> {
    let shop = shiphold_domain::ShopId::parse(shop).map_err(|e| anyhow::anyhow!("--shop: {e}"))?;
    let new = shiphold_api::service::staff::parse_new_staff(login, name, role)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = operator_app(loaded).await?;
    let invitation = shiphold_api::service::staff::invite_for_operator(&app, shop, new)
        .await
        .context("could not invite the person")?;
    print_invitation(&invitation);
    Ok(())
}

fn print_invitation(invitation: &shiphold_api::service::staff::Invitation) {
    let member = &invitation.member;
    println!(
        "{} ({}) is invited as {}.",
        member.name,
        member.login,
        member.role.as_str()
    );
    println!("invitation link: {}", invitation.url);
    println!(
        "Open it before {} to choose a password; then sign in at the console with the login {}. \
         The link works once and will not be shown again.",
        invitation.expires_at.format("%Y-%m-%dT%H:%M:%SZ"),
        member.login
    );
}

/// The application as the operator commands use it: the store, opened (and migrated when
/// configured), and the real clock.
async fn operator_app(loaded: &Loaded) -> Result<shiphold_api::AppState> {
    let store = open_store(&loaded.settings, loaded.settings.database.migrate_on_start).await?;
    Ok(shiphold_api::AppState::new(
        store,
        std::sync::Arc::new(SystemClock),
        loaded.settings.api_config(None),
    ))
}

async fn create_key(loaded: &Loaded, shop: &str, label: &str, roles: &[String]) -> Result<()> {
    let shop = shiphold_domain::ShopId::parse(shop).map_err(|e| anyhow::anyhow!("--shop: {e}"))?;
    let app = operator_app(loaded).await?;
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
