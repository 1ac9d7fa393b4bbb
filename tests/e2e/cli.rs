//! The one-shot subcommands and start-up failures: what an operator sees on the terminal.

use shiphold_e2e::{Finished, TempDir, run, shiphold_bin};

/// A refused configuration: exit code 2, exactly one line on stderr that names the key, no panic.
fn assert_config_refused(out: &Finished, key: &str) {
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "one line expected: {out:?}");
    assert!(
        lines[0].starts_with("error: invalid configuration: ") && lines[0].contains(key),
        "{out:?}"
    );
    assert!(!out.stderr.contains("panicked"), "{out:?}");
}

#[test]
fn a_port_that_is_not_a_number_stops_serve_naming_the_key() {
    let dir = TempDir::new("bad-port");
    let out = run(
        dir.path(),
        &["serve"],
        &[("SHIPHOLD__SERVER__LISTEN", "127.0.0.1:abc")],
    );
    assert_config_refused(&out, "server.listen");
    assert!(out.stderr.contains("\"127.0.0.1:abc\""), "{out:?}");
    // Nothing was started, so nothing was created.
    assert!(!dir.path().join("data").exists());
}

#[test]
fn bad_values_from_env_and_file_name_their_key() {
    let dir = TempDir::new("bad-values");
    // Serve is the default subcommand.
    let out = run(dir.path(), &[], &[("SHIPHOLD__SERVER__LISTEN", "abc")]);
    assert_config_refused(&out, "server.listen");

    let out = run(
        dir.path(),
        &["serve"],
        &[("SHIPHOLD__DATABASE__MAX_CONNECTIONS", "many")],
    );
    assert_config_refused(&out, "database.max_connections");

    let out = run(dir.path(), &["serve"], &[("SHIPHOLD__JOBS__BACTH", "3")]);
    assert_config_refused(&out, "bacth");

    // shiphold.toml in the working directory is read without --config.
    std::fs::write(
        dir.path().join("shiphold.toml"),
        "[database]\nurl = \"mysql://localhost/shop\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &["serve"], &[]);
    assert_config_refused(&out, "database.url");

    let file = dir.path().join("other.toml");
    std::fs::write(&file, "[log]\nformat = \"xml\"\n").unwrap();
    let out = run(
        dir.path(),
        &["--config", file.to_str().unwrap(), "serve"],
        &[],
    );
    assert_config_refused(&out, "log.format");

    let out = run(dir.path(), &["--config", "missing.toml", "config"], &[]);
    assert_config_refused(&out, "missing.toml");
}

#[test]
fn config_prints_the_effective_configuration_with_secrets_masked() {
    let dir = TempDir::new("config");
    let out = run(
        dir.path(),
        &["config"],
        &[
            ("SHIPHOLD__SERVER__LISTEN", "0.0.0.0:9999"),
            (
                "SHIPHOLD__DATABASE__URL",
                "postgres://shiphold:pg-password-42@db.internal:5432/shiphold",
            ),
            ("SHIPHOLD__CHAT_GATEWAY__URL", "https://chat.example/hooks"),
            ("SHIPHOLD__CHAT_GATEWAY__SECRET", "whsec_do-not-print"),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let text = &out.stdout;
    assert!(text.contains("listen = \"0.0.0.0:9999\""), "{text}");
    assert!(
        text.contains("[jobs]") && text.contains("retry_schedule_seconds"),
        "{text}"
    );
    assert!(!text.contains("pg-password-42"), "{text}");
    assert!(!text.contains("whsec_do-not-print"), "{text}");
    assert!(text.contains("secret = \"***\""), "{text}");
    assert!(
        text.contains("postgres://shiphold:***@db.internal:5432/shiphold"),
        "{text}"
    );
    // Printing the configuration touches no database.
    assert!(!dir.path().join("data").exists());
}

#[test]
fn shop_create_prints_a_key_once() {
    let dir = TempDir::new("shop-create");
    let out = run(dir.path(), &["shop", "create", "--name", "Tea House"], &[]);
    assert!(out.status.success(), "{out:?}");
    let key = field(&out.stdout, "api key:").unwrap_or_else(|| panic!("no key: {out:?}"));
    let shop = field(&out.stdout, "shop id:").unwrap_or_else(|| panic!("no shop id: {out:?}"));
    assert!(key.len() >= 20, "a short key: {key}");
    assert!(!shop.is_empty());
    assert!(out.stdout.contains("will not be shown again"), "{out:?}");
    // Logs stay on stderr, so the key can be piped on its own.
    assert!(!out.stdout.contains("INFO"), "{out:?}");

    let again = run(dir.path(), &["shop", "create", "--name", "Tea House"], &[]);
    assert!(again.status.success(), "{again:?}");
    assert_ne!(field(&again.stdout, "api key:"), Some(key));
    assert_ne!(field(&again.stdout, "shop id:"), Some(shop));
}

/// `shop create` says how the first admin signs in: with `--admin-login`, their invitation
/// link; without it, the command that invites them. `staff invite` is that command.
#[test]
fn shop_create_tells_how_the_first_admin_signs_in() {
    let dir = TempDir::new("shop-admin");
    let out = run(
        dir.path(),
        &[
            "shop",
            "create",
            "--name",
            "Tea House",
            "--admin-login",
            "Boss@Tea.example",
            "--admin-name",
            "王老板",
        ],
        &[(
            "SHIPHOLD__SERVER__PUBLIC_BASE_URL",
            "https://cs.tea.example",
        )],
    );
    assert!(out.status.success(), "{out:?}");
    let link = field(&out.stdout, "invitation link:").unwrap_or_else(|| panic!("{out:?}"));
    assert!(
        link.starts_with("https://cs.tea.example/console#invitation=shi_"),
        "{link}"
    );
    assert!(
        out.stdout
            .contains("王老板 (boss@tea.example) is invited as admin"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("with the login boss@tea.example"),
        "{out:?}"
    );
    let shop = field(&out.stdout, "shop id:").unwrap();

    // Without an admin: the command to invite one.
    let plain = run(dir.path(), &["shop", "create", "--name", "Other"], &[]);
    assert!(plain.status.success(), "{plain:?}");
    assert!(
        plain.stdout.contains("shiphold staff invite --shop shp_"),
        "{plain:?}"
    );

    let agent = run(
        dir.path(),
        &[
            "staff",
            "invite",
            "--shop",
            shop,
            "--login",
            "li@tea.example",
            "--name",
            "Li",
            "--role",
            "agent",
        ],
        &[],
    );
    assert!(agent.status.success(), "{agent:?}");
    assert!(agent.stdout.contains("is invited as agent"), "{agent:?}");
    // A login is one person's, in every shop.
    let taken = run(
        dir.path(),
        &[
            "staff",
            "invite",
            "--shop",
            shop,
            "--login",
            "LI@tea.example",
            "--name",
            "Li",
            "--role",
            "agent",
        ],
        &[],
    );
    assert_eq!(taken.status.code(), Some(1), "{taken:?}");
    assert!(taken.stderr.contains("taken"), "{taken:?}");
    assert!(!taken.stderr.contains("panicked"), "{taken:?}");
    // A bad admin login makes no shop.
    let bad = run(
        dir.path(),
        &[
            "shop",
            "create",
            "--name",
            "Third",
            "--admin-login",
            "no spaces allowed",
        ],
        &[],
    );
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    assert!(bad.stderr.contains("--admin-login"), "{bad:?}");
    assert!(!bad.stdout.contains("shop created"), "{bad:?}");
}

#[test]
fn shop_create_refuses_an_empty_name() {
    let dir = TempDir::new("shop-empty");
    let out = run(dir.path(), &["shop", "create", "--name", "  "], &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        out.stderr.lines().any(|l| l.starts_with("error: ")),
        "{out:?}"
    );
    assert!(!out.stdout.contains("api key"), "{out:?}");
    assert!(!out.stderr.contains("panicked"), "{out:?}");
}

#[test]
fn migrate_on_a_fresh_directory_applies_everything_then_nothing() {
    let dir = TempDir::new("migrate");
    let first = run(dir.path(), &["migrate"], &[]);
    assert!(first.status.success(), "{first:?}");
    assert!(first.stdout.contains("applied"), "{first:?}");
    assert!(dir.path().join("data/shiphold.db").is_file());
    let second = run(dir.path(), &["migrate"], &[]);
    assert!(second.status.success(), "{second:?}");
    assert!(second.stdout.contains("no migration pending"), "{second:?}");
}

#[test]
fn version_and_help() {
    let dir = TempDir::new("version");
    let out = run(dir.path(), &["--version"], &[]);
    assert!(out.status.success());
    assert_eq!(
        out.stdout.trim(),
        format!("shiphold {}", env!("CARGO_PKG_VERSION"))
    );
    let out = run(dir.path(), &["--help"], &[]);
    for command in ["serve", "migrate", "shop", "config"] {
        assert!(out.stdout.contains(command), "{out:?}");
    }
    assert!(shiphold_bin().is_file());
}

/// The value after `label` on its line.
fn field<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(str::trim)
}

#[test]
fn an_unreachable_database_fails_with_one_error_line() {
    let dir = TempDir::new("no-database");
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let out = run(
        dir.path(),
        &["migrate"],
        &[
            (
                "SHIPHOLD__DATABASE__URL",
                "postgres://shiphold:pw@127.0.0.1:1/shiphold",
            ),
            ("SHIPHOLD__DATABASE__CONNECT_TIMEOUT_SECONDS", "1"),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: could not open the database"),
        "{out:?}"
    );
    assert!(
        last.contains("postgres://shiphold:***@127.0.0.1:1/shiphold"),
        "{out:?}"
    );
    assert!(!out.stderr.contains(":pw@"), "the password leaked: {out:?}");
    assert!(!out.stderr.contains("panicked"), "{out:?}");
}

/// A PostgreSQL password never shows, whichever form it was given in: not in `shiphold config`,
/// not in the start-up log, not in the error when the database cannot be opened.
#[test]
fn database_passwords_are_masked_everywhere() {
    let dir = TempDir::new("masked");
    for url in [
        "postgres://app:hunter2@127.0.0.1:1/shiphold",
        "postgres://app@127.0.0.1:1/shiphold?password=hunter2",
        "postgres://app@127.0.0.1:1/shiphold?sslmode=disable&password=hunter2",
        "host=127.0.0.1 port=1 user=app password=hunter2 dbname=shiphold",
    ] {
        let env = [
            ("SHIPHOLD__DATABASE__URL", url),
            ("SHIPHOLD__DATABASE__CONNECT_TIMEOUT_SECONDS", "1"),
            ("SHIPHOLD__LOG__FILTER", "debug"),
        ];
        for args in [&["config"][..], &["migrate"][..]] {
            let out = run(dir.path(), args, &env);
            assert!(
                !out.stdout.contains("hunter2") && !out.stderr.contains("hunter2"),
                "{args:?} with {url}: {out:?}"
            );
        }
    }
}
