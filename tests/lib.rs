//! Harness for Shiphold's end-to-end tests: builds the real `shiphold` binary, starts it in a
//! fresh working directory on a free port, and stops it when the test is done.
//!
//! ```no_run
//! # async fn demo() {
//! let server = shiphold_e2e::Server::start();
//! let res = shiphold_e2e::http().get(server.url("/healthz")).send().await.unwrap();
//! assert_eq!(res.status(), 200);
//! # }
//! ```
//!
//! **Which binary.** Cargo tells only a package's own integration tests where its binaries are
//! (`CARGO_BIN_EXE_<name>`), and this crate is not `shiphold-server`. So the harness runs
//! `cargo build -p shiphold-server --bin shiphold` once per test process — in the same target
//! directory and profile as the tests, so it is a no-op when the binary is fresh — and takes the
//! path cargo reports. `SHIPHOLD_BIN=/path/to/shiphold` skips the build (e.g. to test a release
//! build).
//!
//! **Which database.** SQLite in the server's working directory by default (the path the README
//! promises, `./data/shiphold.db`); [`TestPostgres`] makes a database of its own on the server
//! named by `SHIPHOLD_TEST_POSTGRES_URL` and drops it afterwards.

// A panic here is a failed test with its message, helpers outside `#[test]` included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The variable naming a PostgreSQL server the tests may create databases on.
pub const POSTGRES_VAR: &str = "SHIPHOLD_TEST_POSTGRES_URL";

/// How long a server gets to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// The product promises an exit within 10 s of SIGTERM; a little slack for a loaded machine.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(12);

/// An HTTP client for talking to a test server.
pub fn http() -> reqwest::Client {
    // reqwest is built without a default TLS provider in this workspace; building a client panics
    // unless one is installed, even for plain http.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|err| panic!("cannot build an HTTP client: {err}"))
}

/// The `shiphold` binary, built on first use (see the crate docs).
pub fn shiphold_bin() -> &'static Path {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(build_binary) {
        Ok(path) => path,
        Err(err) => panic!("{err}"),
    }
}

fn build_binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("SHIPHOLD_BIN") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("SHIPHOLD_BIN={} is not a file", path.display()))
        };
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "-p",
        "shiphold-server",
        "--bin",
        "shiphold",
        "--message-format=json-render-diagnostics",
    ])
    .current_dir(workspace_root());
    if let Some((target_dir, profile)) = own_build_layout() {
        cmd.arg("--target-dir")
            .arg(target_dir)
            .arg("--profile")
            .arg(profile);
    }
    let out = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output()
        .map_err(|err| format!("cannot run cargo to build shiphold: {err}"))?;
    if !out.status.success() {
        return Err(format!(
            "building shiphold failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "shiphold")
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "cargo built shiphold but reported no executable".to_owned())
}

/// The target directory and profile this test binary was built in, so that the nested build
/// reuses them instead of compiling everything again elsewhere.
fn own_build_layout() -> Option<(PathBuf, String)> {
    // Tests run from <target>/<profile>/deps/<name>-<hash>.
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let target_dir = profile_dir.parent()?;
    // Cargo marks the root of every target directory; a cross build (<target>/<triple>/<profile>)
    // fails this test and falls back to cargo's defaults.
    if !target_dir.join("CACHEDIR.TAG").is_file() {
        return None;
    }
    let profile = match profile_dir.file_name()?.to_str()? {
        "debug" => "dev".to_owned(),
        other => other.to_owned(),
    };
    Some((target_dir.to_path_buf(), profile))
}

/// The workspace root (this crate lives in its `tests/` folder).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// A `shiphold` command with `dir` as working directory and a clean configuration environment:
/// inherited `SHIPHOLD__…` and `RUST_LOG` variables would make results depend on the developer's
/// shell.
pub fn shiphold(dir: &Path) -> Command {
    let mut cmd = Command::new(shiphold_bin());
    cmd.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SHIPHOLD__") {
            cmd.env_remove(&key);
        }
    }
    cmd.env_remove("RUST_LOG").env("NO_COLOR", "1");
    cmd
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Finished {
    fn from(out: Output) -> Self {
        Self {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs `shiphold <args>` in `dir` with extra environment and waits for it (for one-shot
/// subcommands; a `serve` that does not stop would hang the test — use [`Server`]).
pub fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Finished {
    shiphold(dir)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("cannot run shiphold {args:?}: {err}"))
        .into()
}

/// A directory removed when dropped; kept (and its path printed) when the test failed, so the
/// database and logs can be looked at.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir()
            .join("shiphold-e2e")
            .join(format!("{label}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|err| panic!("cannot create {}: {err}", path.display()));
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept the test directory {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A PostgreSQL database of a test's own, created on the server named by
/// `SHIPHOLD_TEST_POSTGRES_URL` and dropped (with whatever still connects to it) when dropped.
/// Uses the `psql` client, which comes with every PostgreSQL installation.
#[derive(Debug)]
pub struct TestPostgres {
    /// Connects to the new database.
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestPostgres {
    /// `None` when the variable is unset: the caller reports the PostgreSQL half as skipped.
    /// Panics when it is set and the database cannot be created, and when it is unset under CI
    /// (`CI` set): CI must not pass without PostgreSQL.
    pub fn create(label: &str) -> Option<Self> {
        let admin_url = std::env::var(POSTGRES_VAR).ok().filter(|v| !v.is_empty());
        let under_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        if admin_url.is_none() && under_ci {
            panic!("CI is set but {POSTGRES_VAR} is not: the PostgreSQL half must run in CI");
        }
        let admin_url = admin_url?;
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "shiphold_e2e_{}_{}_{}",
            label
                .to_ascii_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        psql(&admin_url, &format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|err| panic!("{POSTGRES_VAR} is set but {err}"));
        let url = with_database(&admin_url, &name);
        Some(Self {
            url,
            admin_url,
            name,
        })
    }

    /// Says in the test output that a PostgreSQL test did not run.
    pub fn report_skipped(test: &str) {
        eprintln!("{test}: PostgreSQL half skipped: {POSTGRES_VAR} is not set");
    }
}

impl TestPostgres {
    /// Drops the database now, closing every connection to it (to test what a server does when
    /// its database goes away). Dropping the value later does nothing more.
    pub fn drop_database(&self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(err) = psql(&self.admin_url, &sql) {
            eprintln!("could not drop the test database {}: {err}", self.name);
        }
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.drop_database();
    }
}

fn psql(url: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("cannot run psql: {err}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{sql}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `url` with its database (the path) replaced by `name`, query kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{name}?{query}"),
        None => format!("{root}/{name}"),
    }
}

/// How to start a server.
#[derive(Debug)]
pub struct ServerBuilder {
    dir: Option<TempDir>,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

impl ServerBuilder {
    /// Sets an environment variable, e.g. `SHIPHOLD__ERP__ALLOW_INSECURE_ENDPOINTS=true`.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Uses this database URL instead of the SQLite file in the working directory.
    pub fn database_url(self, url: &str) -> Self {
        self.env("SHIPHOLD__DATABASE__URL", url)
    }

    /// Uses a PostgreSQL test database.
    pub fn postgres(self, db: &TestPostgres) -> Self {
        self.database_url(&db.url)
    }

    /// Runs in an existing directory (prepared with [`run`], say `shop create`).
    pub fn in_dir(mut self, dir: TempDir) -> Self {
        self.dir = Some(dir);
        self
    }

    /// Extra command-line arguments before `serve` (e.g. `--config`).
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    /// Starts `shiphold serve` and waits until it prints its address. Panics with the server's
    /// output when it does not come up.
    pub fn start(self) -> Server {
        let dir = self.dir.unwrap_or_else(|| TempDir::new("server"));
        let mut cmd = shiphold(dir.path());
        cmd.args(&self.args)
            .arg("serve")
            // Port 0: every test gets a free port; the real one is read from the log.
            .env("SHIPHOLD__SERVER__LISTEN", "127.0.0.1:0")
            // The metrics listener too; `Server::metrics_url` reads its port from the log.
            .env("SHIPHOLD__METRICS__LISTEN", "127.0.0.1:0")
            .env("SHIPHOLD__LOG__FORMAT", "pretty")
            .env("SHIPHOLD__LOG__FILTER", "info")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start shiphold serve: {err}"));

        let logs = Arc::new(Mutex::new(String::new()));
        let (found_tx, found_rx) = mpsc::channel::<String>();
        if let Some(stderr) = child.stderr.take() {
            capture(stderr, Arc::clone(&logs), Some(found_tx));
        }
        if let Some(stdout) = child.stdout.take() {
            capture(stdout, Arc::clone(&logs), None);
        }

        let mut server = Server {
            child,
            dir: Some(dir),
            logs,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            exit: None,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match found_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(addr) => {
                    server.addr = addr.parse().unwrap_or_else(|err| {
                        panic!("unreadable address {addr:?}: {err}\n{}", server.logs())
                    });
                    return server;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // stderr closed: the process is gone; let its exit status say why.
                }
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                // Give the reader threads a moment to drain the pipes.
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "shiphold serve exited ({status}) before listening:\n{}",
                    server.logs()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "shiphold serve printed no `listening on` line within {START_TIMEOUT:?}:\n{}",
                    server.logs()
                );
            }
        }
    }
}

/// Copies a child's output into `logs`; sends the address of the first `listening on` line.
fn capture(
    stream: impl Read + Send + 'static,
    logs: Arc<Mutex<String>>,
    found: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        let mut found = found;
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = &found
                && let Some(addr) = listening_address(&line)
            {
                let _ = tx.send(addr.to_owned());
                found = None;
            }
            let mut logs = logs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            logs.push_str(&line);
            logs.push('\n');
        }
    });
}

/// The `host:port` of a `listening on http://host:port` log line, pretty or JSON.
pub fn listening_address(line: &str) -> Option<&str> {
    const MARK: &str = "listening on http://";
    let start = line.find(MARK)? + MARK.len();
    let rest = &line[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"' || c == '/')
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// A running `shiphold serve`; killed when dropped if still running.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// Always set while the server lives; taken by [`Server::stop_and_keep_dir`].
    dir: Option<TempDir>,
    logs: Arc<Mutex<String>>,
    addr: SocketAddr,
    exit: Option<ExitStatus>,
}

impl Server {
    /// Starts a server with the defaults: SQLite in a fresh directory, a free port.
    pub fn start() -> Self {
        Self::builder().start()
    }

    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            dir: None,
            env: Vec::new(),
            args: Vec::new(),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base URL joined with `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// `http://127.0.0.1:<port>/metrics` of the metrics listener, from its `metrics on` log line
    /// (logged right after `listening on`).
    pub fn metrics_url(&self) -> String {
        const MARK: &str = "metrics on http://";
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let logs = self.logs();
            if let Some(start) = logs.find(MARK) {
                let rest = &logs[start + MARK.len()..];
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '"' || c == '/')
                    .unwrap_or(rest.len());
                return format!("http://{}/metrics", &rest[..end]);
            }
            assert!(
                Instant::now() < deadline,
                "no `metrics on` line within {START_TIMEOUT:?}:\n{logs}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its working directory (the SQLite file is `data/shiphold.db` in it).
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new(""), TempDir::path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it printed so far.
    pub fn logs(&self) -> String {
        self.logs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits until its output contains `needle`; false on timeout.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.logs().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.logs().contains(needle)
    }

    /// Sends a signal by name (`TERM`, `INT`) through `kill(1)`: the workspace forbids the unsafe
    /// code a direct `libc::kill` needs.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap_or_else(|err| panic!("cannot run kill: {err}"));
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// Waits for the process to end; `None` if it is still running after `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.exit {
            return Some(status);
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.exit = Some(status);
                    return Some(status);
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => return None,
            }
        }
    }

    /// SIGTERM, then waits up to [`STOP_TIMEOUT`]; returns the exit status and how long it took.
    /// Panics (with the logs) if it does not stop.
    pub fn terminate(&mut self) -> (ExitStatus, Duration) {
        let started = Instant::now();
        self.signal("TERM");
        match self.wait_timeout(STOP_TIMEOUT) {
            Some(status) => (status, started.elapsed()),
            None => panic!(
                "shiphold did not stop within {STOP_TIMEOUT:?} of SIGTERM:\n{}",
                self.logs()
            ),
        }
    }

    /// Kills it without warning (`kill -9`: no shutdown code runs) and hands back the working
    /// directory, to restart on the same data.
    pub fn kill_and_keep_dir(mut self) -> TempDir {
        self.signal("KILL");
        let _ = self.wait_timeout(STOP_TIMEOUT);
        self.dir.take().unwrap_or_else(|| TempDir::new("server"))
    }

    /// Stops it and hands back the working directory, to run more commands against the same data.
    pub fn stop_and_keep_dir(mut self) -> TempDir {
        let (status, _) = self.terminate();
        assert!(status.success(), "exit {status}:\n{}", self.logs());
        self.dir.take().unwrap_or_else(|| TempDir::new("server"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- shiphold output ({}) ---\n{}",
                self.base_url(),
                self.logs()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_address_from_pretty_and_json_lines() {
        let pretty =
            "2026-01-01T00:00:00Z  INFO shiphold::serve: listening on http://127.0.0.1:4321";
        assert_eq!(listening_address(pretty), Some("127.0.0.1:4321"));
        let json = r#"{"level":"INFO","message":"listening on http://[::1]:80","target":"x"}"#;
        assert_eq!(listening_address(json), Some("[::1]:80"));
        assert_eq!(listening_address("database opened"), None);
    }

    #[test]
    fn replaces_the_database_of_a_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "t3"),
            "postgres://h:5432/t3"
        );
    }
}
