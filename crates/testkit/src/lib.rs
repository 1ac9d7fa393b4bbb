//! Throwaway databases for tests: a SQLite file in a fresh temporary folder, or a PostgreSQL
//! database of its own on the server named by `SHIPHOLD_TEST_POSTGRES_URL`, dropped afterwards.

use std::path::{Path, PathBuf};

use diesel::{Connection, PgConnection, RunQueryDsl};

/// The variable that names the PostgreSQL server for tests, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub const POSTGRES_URL_VAR: &str = "SHIPHOLD_TEST_POSTGRES_URL";

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

/// A temporary folder, removed with everything in it when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A new, empty folder under the system's temporary directory.
    pub fn new(prefix: &str) -> std::io::Result<Self> {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path)?;
        Ok(Self { path })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    backend: Backend,
    /// For PostgreSQL: the server URL and the database to drop.
    postgres: Option<(String, String)>,
    _dir: Option<TempDir>,
}

impl TestDatabase {
    /// A SQLite file in a fresh folder, one level down (`data/shiphold.db`), so that opening it
    /// also shows the store creates missing parent folders.
    pub fn sqlite() -> Self {
        let dir = TempDir::new("shiphold-test")
            .unwrap_or_else(|e| panic!("cannot create a temporary folder: {e}"));
        let url = format!(
            "sqlite://{}",
            dir.path().join("data").join("shiphold.db").display()
        );
        Self {
            url,
            backend: Backend::Sqlite,
            postgres: None,
            _dir: Some(dir),
        }
    }

    /// A fresh PostgreSQL database, or `None` when the variable is unset. Under CI (`CI` set)
    /// an unset variable panics instead: CI must not pass with the PostgreSQL half skipped.
    pub fn postgres() -> Option<Self> {
        let server = postgres_server(
            std::env::var(POSTGRES_URL_VAR).ok(),
            std::env::var("CI").ok(),
        )
        .unwrap_or_else(|why| panic!("{why}"))?;
        let name = format!("shiphold_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(&server).unwrap_or_else(|e| {
            panic!("{POSTGRES_URL_VAR} is set but PostgreSQL is unreachable: {e}")
        });
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let url = match server.rfind('/') {
            Some(i)
                if server[..i].contains("://") && i > server.find("://").map_or(0, |p| p + 2) =>
            {
                let (base, rest) = server.split_at(i);
                let query = rest.find('?').map(|q| &rest[q..]).unwrap_or("");
                format!("{base}/{name}{query}")
            }
            _ => format!("{}/{name}", server.trim_end_matches('/')),
        };
        Some(Self {
            url,
            backend: Backend::Postgres,
            postgres: Some((server, name)),
            _dir: None,
        })
    }

    /// Every backend available here: SQLite always, PostgreSQL when configured. Says on stderr
    /// when the PostgreSQL half is skipped.
    pub fn all() -> Vec<Self> {
        let mut all = vec![Self::sqlite()];
        match Self::postgres() {
            Some(pg) => all.push(pg),
            None => eprintln!(
                "note: {POSTGRES_URL_VAR} is unset; the PostgreSQL half of this test was skipped"
            ),
        }
        all
    }

    /// The URL to connect to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Which backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.postgres
            && let Ok(mut admin) = PgConnection::establish(server)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin);
        }
    }
}

/// The PostgreSQL server the tests may use: `Ok(None)` to skip the PostgreSQL half, an error
/// when skipping is not allowed because `ci` (the `CI` variable) says this is a CI run.
pub fn postgres_server(url: Option<String>, ci: Option<String>) -> Result<Option<String>, String> {
    let url = url.filter(|v| !v.is_empty());
    let under_ci = ci.is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
    match url {
        Some(url) => Ok(Some(url)),
        None if under_ci => Err(format!(
            "CI is set but {POSTGRES_URL_VAR} is not: the PostgreSQL half must run in CI \
             (point {POSTGRES_URL_VAR} at a server the tests may create databases on)"
        )),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::postgres_server;

    #[test]
    fn ci_never_skips_the_postgresql_half() {
        let url = || Some("postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        assert_eq!(postgres_server(url(), None), Ok(url()));
        assert_eq!(postgres_server(url(), Some("true".into())), Ok(url()));
        assert_eq!(postgres_server(None, None), Ok(None));
        assert_eq!(
            postgres_server(Some(String::new()), Some("false".into())),
            Ok(None)
        );
        assert!(postgres_server(None, Some("true".into())).is_err());
        assert!(postgres_server(Some(String::new()), Some("1".into())).is_err());
    }
}
