//! `cargo xtask release <version>`: checks, version bump, changelog, release build, tarball and
//! checksums, and — only with `--execute` — the release commit and annotated tag (never a push).
//!
//! A dry run (the default) changes no tracked file: it bumps, regenerates and builds in a staged
//! copy of the working tree under the target directory, sharing the target directory so that a
//! second run compiles only what changed, and writes the would-be changelog into `dist/`.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// Files a release rewrites, relative to the workspace root (the generated files come on top).
const MANIFEST: &str = "Cargo.toml";
const LOCKFILE: &str = "Cargo.lock";
const CHANGELOG: &str = "CHANGELOG.md";
/// What goes into the tarball besides the binary, and where it comes from.
const DEFAULTS_TOML: &str = "crates/server/src/defaults.toml";
const MIGRATIONS: &str = "crates/storage/migrations";
const README: &str = "README.md";
const LICENSE: &str = "LICENSE";
/// The package and binary that is released.
const SERVER_PACKAGE: &str = "shiphold-server";
const BINARY: &str = "shiphold";

/// A semantic version (`MAJOR.MINOR.PATCH[-PRE][+BUILD]`), valid by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version(String);

impl Version {
    /// Checks `text` against the SemVer 2.0.0 grammar; a leading `v` is refused so that the tag
    /// (`v<version>`) and the crate version cannot be confused.
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| anyhow::anyhow!("`{text}` is not a semantic version ({why})");
        let (rest, build) = match text.split_once('+') {
            Some((rest, build)) => (rest, Some(build)),
            None => (text, None),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (rest, None),
        };
        let numbers: Vec<&str> = core.split('.').collect();
        if numbers.len() != 3 {
            return Err(bad("expected MAJOR.MINOR.PATCH, e.g. 0.2.0"));
        }
        for n in &numbers {
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("MAJOR, MINOR and PATCH are numbers"));
            }
            if n.len() > 1 && n.starts_with('0') {
                return Err(bad("numbers have no leading zeros"));
            }
        }
        let identifiers_ok = |s: &str, numeric_no_leading_zero: bool| {
            s.split('.').all(|id| {
                !id.is_empty()
                    && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !(numeric_no_leading_zero
                        && id.len() > 1
                        && id.starts_with('0')
                        && id.bytes().all(|b| b.is_ascii_digit()))
            })
        };
        if let Some(pre) = pre
            && !identifiers_ok(pre, true)
        {
            return Err(bad(
                "the pre-release is dot-separated [0-9A-Za-z-] identifiers",
            ));
        }
        if let Some(build) = build
            && !identifiers_ok(build, false)
        {
            return Err(bad(
                "the build metadata is dot-separated [0-9A-Za-z-] identifiers",
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub(crate) fn tag(&self) -> String {
        format!("v{}", self.0)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What `cargo xtask release` was asked to do.
pub(crate) struct Options {
    pub version: Version,
    /// Commit and tag; otherwise change nothing tracked.
    pub execute: bool,
    pub allow_dirty: bool,
    pub skip_checks: bool,
}

pub(crate) fn release(root: &Path, opts: &Options) -> Result<()> {
    let version = &opts.version;
    let tag = version.tag();
    let mode = if opts.execute { "release" } else { "dry run" };
    say(&format!("{mode} of shiphold {version}"));

    if git_ok(
        root,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/tags/{tag}"),
        ],
    )? {
        bail!("the tag {tag} exists already; pick another version");
    }
    let dirty = git(root, &["status", "--porcelain"])?;
    if !dirty.trim().is_empty() {
        if !opts.allow_dirty {
            bail!(
                "the working tree is not clean (commit or stash first, or pass --allow-dirty):\n{}",
                dirty.trim_end()
            );
        }
        say("the working tree is not clean; going on because of --allow-dirty");
    }

    if opts.skip_checks {
        say("skipping the checks (--skip-checks)");
    } else {
        crate::ci()?;
    }

    let target_dir = target_dir(root);
    // A dry run works on a copy; a release works on the tree it will commit.
    let tree = if opts.execute {
        root.to_path_buf()
    } else {
        let stage = target_dir.join("xtask-release").join("tree");
        stage_copy(root, &stage)?;
        say(&format!("staged the working tree in {}", stage.display()));
        stage
    };

    // What the bump regenerates, told apart from other uncommitted work under docs/.
    let docs_before = git(&tree, &["status", "--porcelain", "--", "docs"]).unwrap_or_default();
    let current = workspace_version(&std::fs::read_to_string(root.join(MANIFEST))?)?;
    let manifest = std::fs::read_to_string(tree.join(MANIFEST))?;
    let bumped = set_workspace_version(&manifest, version)?;
    write_if_changed(&tree.join(MANIFEST), &bumped)?;
    if current == version.as_str() {
        say(&format!("the workspace is at {version} already"));
    } else {
        say(&format!("set the workspace version {current} -> {version}"));
        // The OpenAPI document carries the crate version: regenerate with the bumped crates.
        // This also brings Cargo.lock up to date.
        cargo(
            &tree,
            &["run", "--quiet", "-p", "xtask", "--", "codegen"],
            &target_dir,
        )?;
    }

    let log = commits_since_last_release(root)?;
    let today = chrono::Utc::now().date_naive();
    let section = changelog_section(version, &today.to_string(), &log);
    let old = std::fs::read_to_string(tree.join(CHANGELOG)).unwrap_or_default();
    let changelog = insert_section(&old, &section);
    std::fs::write(tree.join(CHANGELOG), &changelog)?;
    say(&format!(
        "changelog: {} commit(s) since {}",
        log.len(),
        last_release_tag(root)?
            .as_deref()
            .unwrap_or("the first commit")
    ));

    let binary = build_release(&tree, &target_dir)?;
    let reported = command_output(Command::new(&binary).arg("--version"))?;
    if reported.trim() != format!("{BINARY} {version}") {
        bail!(
            "the built binary reports `{}`, not `{BINARY} {version}`",
            reported.trim()
        );
    }
    say(&format!("built {} ({})", binary.display(), reported.trim()));

    let dist = root.join("dist");
    std::fs::create_dir_all(&dist)?;
    let triple = host_triple()?;
    let name = format!("{BINARY}-{version}-{triple}.tar.gz");
    let tarball = dist.join(&name);
    // Reproducible: one timestamp for every entry, the commit the release is made from.
    let mtime = git(root, &["log", "-1", "--format=%ct"])?;
    package(&tree, &binary, version, &target_dir, mtime.trim(), &tarball)?;
    let sums = format!("{}  {name}\n", sha256_file(&tarball)?);
    std::fs::write(dist.join("SHA256SUMS"), &sums)?;
    say(&format!("wrote dist/{name}"));
    say("wrote dist/SHA256SUMS (check with `cd dist && sha256sum -c SHA256SUMS`)");

    if !opts.execute {
        std::fs::write(dist.join(CHANGELOG), &changelog)?;
        say(&format!(
            "wrote dist/{CHANGELOG} (the CHANGELOG.md the release would commit)"
        ));
        say(&format!(
            "would commit \"Release {version}\" and create the annotated tag {tag}; \
             run again with --execute to do so (nothing is ever pushed)"
        ));
        return Ok(());
    }

    let mut paths: BTreeSet<String> = [MANIFEST, LOCKFILE, CHANGELOG]
        .iter()
        .map(|p| (*p).to_owned())
        .collect();
    // Only the generated files the bump changed; other uncommitted work stays uncommitted.
    let before: BTreeSet<&str> = docs_before.lines().collect();
    for line in git(root, &["status", "--porcelain", "--", "docs"])?.lines() {
        if !before.contains(line)
            && let Some(path) = line.get(3..)
        {
            paths.insert(path.to_owned());
        }
    }
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let message = format!("Release {version}");
    let mut add = vec!["add", "--"];
    add.extend(&paths);
    git(root, &add)?;
    let mut commit = vec!["commit", "-m", &message, "--"];
    commit.extend(&paths);
    git(root, &commit)?;
    let tag_message = format!("Shiphold {version}");
    git(root, &["tag", "-a", &tag, "-m", &tag_message])?;
    say(&format!(
        "committed \"{message}\" and tagged {tag}; push with `git push origin main {tag}`"
    ));
    Ok(())
}

fn say(line: &str) {
    eprintln!("xtask release: {line}");
}

/// Where cargo puts build output for this workspace.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        })
        .unwrap_or_else(|| root.join("target"))
}

/// Makes `stage` hold the working tree's tracked and unignored files, rewriting only the files
/// whose contents differ so that cargo's freshness checks (by mtime) keep earlier builds.
fn stage_copy(root: &Path, stage: &Path) -> Result<()> {
    let listing = git(
        root,
        &[
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ],
    )?;
    let mut wanted = BTreeSet::new();
    for path in listing.split('\0').filter(|p| !p.is_empty()) {
        let from = root.join(path);
        // A tracked file deleted in a dirty tree is listed but absent.
        if !from.is_file() {
            continue;
        }
        let to = stage.join(path);
        let contents = std::fs::read(&from).with_context(|| format!("could not read {path}"))?;
        if std::fs::read(&to).ok().as_deref() != Some(contents.as_slice()) {
            if let Some(dir) = to.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&to, &contents).with_context(|| format!("could not stage {path}"))?;
            std::fs::set_permissions(&to, std::fs::metadata(&from)?.permissions())?;
        }
        wanted.insert(PathBuf::from(path));
    }
    // Files from an earlier run that the tree no longer has (generated ones were rewritten above).
    remove_unlisted(stage, stage, &wanted)?;
    Ok(())
}

fn remove_unlisted(stage: &Path, dir: &Path, wanted: &BTreeSet<PathBuf>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        let relative = path.strip_prefix(stage)?.to_path_buf();
        if path.is_dir() {
            remove_unlisted(stage, &path, wanted)?;
        } else if !wanted.contains(&relative) {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn write_if_changed(path: &Path, contents: &str) -> Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    std::fs::write(path, contents).with_context(|| format!("could not write {}", path.display()))
}

/// The `version` of `[workspace.package]`.
pub(crate) fn workspace_version(manifest: &str) -> Result<String> {
    let mut section = "";
    for line in manifest.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed;
        } else if section == "[workspace.package]"
            && let Some(value) = key_value(trimmed, "version")
        {
            return Ok(value.to_owned());
        }
    }
    bail!("{MANIFEST} has no [workspace.package] version")
}

/// The quoted string value of `key = "value"` at the start of `line`.
fn key_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = line
        .strip_prefix(key)?
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(&rest[..rest.find('"')?])
}

/// The root manifest with `version` as `[workspace.package] version` and as the `version` of
/// every path dependency in `[workspace.dependencies]` (which cargo checks against the crate's
/// own version). Edits lines in place, so comments and layout survive.
pub(crate) fn set_workspace_version(manifest: &str, version: &Version) -> Result<String> {
    let mut out = String::with_capacity(manifest.len());
    let mut section = String::new();
    let mut package_version_set = false;
    for line in manifest.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed.to_owned();
            out.push_str(line);
            continue;
        }
        if section == "[workspace.package]"
            && let Some(old) = key_value(trimmed, "version")
        {
            out.push_str(&line.replacen(&format!("\"{old}\""), &format!("\"{version}\""), 1));
            package_version_set = true;
            continue;
        }
        if section == "[workspace.dependencies]"
            && trimmed.contains("path = \"")
            && let Some(start) = line.find("version = \"")
        {
            let value_start = start + "version = \"".len();
            let Some(len) = line[value_start..].find('"') else {
                bail!("unterminated version in {MANIFEST}: {trimmed}");
            };
            out.push_str(&line[..value_start]);
            out.push_str(version.as_str());
            out.push_str(&line[value_start + len..]);
            continue;
        }
        out.push_str(line);
    }
    if !package_version_set {
        bail!("{MANIFEST} has no [workspace.package] version to set");
    }
    Ok(out)
}

/// One commit for the changelog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Commit {
    pub short_hash: String,
    pub subject: String,
}

fn last_release_tag(root: &Path) -> Result<Option<String>> {
    let out = Command::new("git")
        .args(["describe", "--tags", "--abbrev=0", "--match", "v*"])
        .current_dir(root)
        .stderr(Stdio::null())
        .output()
        .context("could not run git")?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned()))
}

/// The commits since the last `v*` tag (every commit when there is none), newest first.
fn commits_since_last_release(root: &Path) -> Result<Vec<Commit>> {
    let range = last_release_tag(root)?.map(|tag| format!("{tag}..HEAD"));
    let mut args = vec!["log", "--no-merges", "--format=%h%x1f%s"];
    if let Some(range) = &range {
        args.push(range);
    }
    Ok(git(root, &args)?
        .lines()
        .filter_map(|line| line.split_once('\u{1f}'))
        .map(|(hash, subject)| Commit {
            short_hash: hash.to_owned(),
            subject: subject.trim().to_owned(),
        })
        .collect())
}

/// The changelog group of a subject: its short `Area:` prefix (`API: …`, `Storage: …`), or
/// `Other` when it has none.
pub(crate) fn group_of(subject: &str) -> (&str, &str) {
    if let Some((area, rest)) = subject.split_once(": ") {
        let words = area.split_whitespace().count();
        if (1..=2).contains(&words) && !area.contains(['`', '/', '(']) {
            return (area, rest.trim());
        }
    }
    ("Other", subject)
}

/// The changelog section of one release: commits grouped by area, areas in the order of their
/// newest commit, `Other` last.
pub(crate) fn changelog_section(version: &Version, date: &str, commits: &[Commit]) -> String {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for commit in commits {
        let (area, text) = group_of(&commit.subject);
        let entry = format!("- {text} ({})", commit.short_hash);
        match groups.iter_mut().find(|(name, _)| name == area) {
            Some((_, entries)) => entries.push(entry),
            None => groups.push((area.to_owned(), vec![entry])),
        }
    }
    groups.sort_by_key(|(name, _)| name == "Other");
    let mut out = format!("## {version} — {date}\n");
    if groups.is_empty() {
        out.push_str("\nNo changes.\n");
    }
    for (name, entries) in groups {
        out.push_str(&format!("\n### {name}\n\n"));
        for entry in entries {
            out.push_str(&entry);
            out.push('\n');
        }
    }
    out
}

const CHANGELOG_HEADER: &str = "# Changelog\n\nWhat changed in each release of Shiphold, \
newest first; written by `cargo xtask release` from the commit messages.\n";

/// `old` (a changelog, possibly empty) with `section` above its newest release.
pub(crate) fn insert_section(old: &str, section: &str) -> String {
    if old.trim().is_empty() {
        return format!("{CHANGELOG_HEADER}\n{section}");
    }
    match old.find("\n## ") {
        Some(at) => format!("{}\n{section}\n{}", &old[..=at], &old[at + 1..]),
        None => format!("{}\n\n{section}", old.trim_end()),
    }
}

/// `cargo build --release` of the server in `tree`; the path of the binary.
fn build_release(tree: &Path, target_dir: &Path) -> Result<PathBuf> {
    let args = [
        "build",
        "--release",
        "-p",
        SERVER_PACKAGE,
        "--bin",
        BINARY,
        "--message-format=json-render-diagnostics",
    ];
    say(&format!("$ cargo {}", args.join(" ")));
    let out = cargo_command(tree, target_dir)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .context("could not start cargo")?;
    if !out.status.success() {
        bail!("the release build failed ({})", out.status);
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == BINARY)
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .context("cargo built the release but named no executable")
}

/// Cargo in `dir`, offline, building into `target_dir`.
fn cargo_command(dir: &Path, target_dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir)
        .env("CARGO_NET_OFFLINE", "true");
    cmd
}

fn cargo(dir: &Path, args: &[&str], target_dir: &Path) -> Result<()> {
    say(&format!("$ cargo {}", args.join(" ")));
    let status = cargo_command(dir, target_dir)
        .args(args)
        .status()
        .context("could not start cargo")?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

fn host_triple() -> Result<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let info = command_output(Command::new(rustc).arg("-vV"))?;
    info.lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(|t| t.trim().to_owned())
        .context("`rustc -vV` names no host")
}

/// Lays out `shiphold-<version>/` and tars it into `tarball`.
fn package(
    tree: &Path,
    binary: &Path,
    version: &Version,
    target_dir: &Path,
    mtime: &str,
    tarball: &Path,
) -> Result<()> {
    let top = format!("{BINARY}-{version}");
    let work = target_dir.join("xtask-release").join("package");
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    let dir = work.join(&top);
    std::fs::create_dir_all(dir.join("bin"))?;
    std::fs::copy(binary, dir.join("bin").join(BINARY))?;
    for (from, to) in [
        (README, README),
        (LICENSE, LICENSE),
        (CHANGELOG, CHANGELOG),
        (DEFAULTS_TOML, "shiphold.example.toml"),
    ] {
        std::fs::copy(tree.join(from), dir.join(to))
            .with_context(|| format!("could not copy {from} into the package"))?;
    }
    copy_dir(&tree.join(MIGRATIONS), &dir.join("migrations"))?;

    // Reproducible: names sorted, no local owners, one timestamp.
    let status = Command::new("tar")
        .args([
            "--sort=name",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            &format!("--mtime=@{mtime}"),
            "-czf",
        ])
        .arg(tarball)
        .arg("-C")
        .arg(&work)
        .arg(&top)
        .status()
        .context("could not run tar")?;
    if !status.success() {
        bail!("tar failed ({status})");
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("could not list {}", from.display()))?
    {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    let bytes =
        std::fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn command_output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("could not run {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    command_output(Command::new("git").args(args).current_dir(dir))
}

fn git_ok(dir: &Path, args: &[&str]) -> Result<bool> {
    Ok(Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("could not run git")?
        .success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_semantic_versions_only() {
        for good in [
            "0.1.0",
            "1.0.0",
            "10.20.30",
            "1.0.0-rc.1",
            "1.0.0-alpha-b.0a",
            "1.2.3+build.5",
        ] {
            assert!(Version::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1",
            "1.2",
            "v1.2.3",
            "1.2.3.4",
            "01.2.3",
            "1.2.x",
            "1.2.3-",
            "1.2.3-01",
            "1.2.3+",
            "1.2.3-a..b",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Version::parse("1.2.3").map(|v| v.tag()).ok().as_deref(),
            Some("v1.2.3")
        );
    }

    const MANIFEST_TEXT: &str = r#"[workspace]
members = ["crates/a"]

[workspace.package]
version = "0.1.0"
edition = "2024"

[workspace.dependencies]
shiphold-a = { path = "crates/a", version = "0.1.0" }
shiphold-b = { path = "crates/b", version = "0.1.0", default-features = false }
shiphold-testkit = { path = "crates/testkit" }
serde = { version = "1", features = ["derive"] }
anyhow = "1"
"#;

    #[test]
    fn bumps_the_workspace_and_its_path_dependencies_only() {
        let v = Version::parse("0.2.0-rc.1").unwrap_or_else(|e| panic!("{e}"));
        let out = set_workspace_version(MANIFEST_TEXT, &v).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(workspace_version(&out).ok().as_deref(), Some("0.2.0-rc.1"));
        assert!(out.contains(r#"shiphold-a = { path = "crates/a", version = "0.2.0-rc.1" }"#));
        assert!(out.contains(
            r#"shiphold-b = { path = "crates/b", version = "0.2.0-rc.1", default-features = false }"#
        ));
        assert!(out.contains(r#"shiphold-testkit = { path = "crates/testkit" }"#));
        assert!(out.contains(r#"serde = { version = "1", features = ["derive"] }"#));
        assert!(out.contains("anyhow = \"1\"\n"));
        assert_eq!(out.lines().count(), MANIFEST_TEXT.lines().count());
    }

    #[test]
    fn bumps_this_workspace() {
        let text = std::fs::read_to_string(crate::workspace_root().join(MANIFEST))
            .unwrap_or_else(|e| panic!("{e}"));
        let v = Version::parse("9.8.7").unwrap_or_else(|e| panic!("{e}"));
        let out = set_workspace_version(&text, &v).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(workspace_version(&out).ok().as_deref(), Some("9.8.7"));
        // Every path dependency that names a version now names the new one.
        for line in out.lines().filter(|l| l.contains("path = \"")) {
            if line.contains("version = ") {
                assert!(line.contains("version = \"9.8.7\""), "{line}");
            }
        }
    }

    #[test]
    fn refuses_a_manifest_without_a_workspace_version() {
        let v = Version::parse("1.0.0").unwrap_or_else(|e| panic!("{e}"));
        assert!(set_workspace_version("[package]\nversion = \"1.0.0\"\n", &v).is_err());
    }

    fn commit(hash: &str, subject: &str) -> Commit {
        Commit {
            short_hash: hash.into(),
            subject: subject.into(),
        }
    }

    #[test]
    fn groups_commits_by_area_with_other_last() {
        let commits = [
            commit("a1", "Merchant console at /console: set-up wizard"),
            commit("b2", "API: OpenAPI document"),
            commit("c3", "Storage: migrations"),
            commit("d4", "API: problem documents"),
            commit("e5", "cargo xtask codegen writes docs"),
            commit("f6", "Server binary: layered configuration"),
        ];
        let v = Version::parse("0.2.0").unwrap_or_else(|e| panic!("{e}"));
        let text = changelog_section(&v, "2026-11-11", &commits);
        assert_eq!(
            text,
            "## 0.2.0 — 2026-11-11\n\
             \n### API\n\n- OpenAPI document (b2)\n- problem documents (d4)\n\
             \n### Storage\n\n- migrations (c3)\n\
             \n### Server binary\n\n- layered configuration (f6)\n\
             \n### Other\n\n- Merchant console at /console: set-up wizard (a1)\n\
             - cargo xtask codegen writes docs (e5)\n"
        );
    }

    /// The acceptance of the release task, for a version other than the current one (so the bump
    /// and the regeneration run too): a dry run writes a tarball whose binary reports the version
    /// and a `sha256sum -c`-compatible SHA256SUMS, and changes no tracked file. Ignored because
    /// it makes a release build; run it with `cargo test -p xtask -- --ignored`.
    #[test]
    #[ignore = "builds the release binary (minutes)"]
    fn a_dry_run_packages_the_bumped_binary_and_changes_no_tracked_file() {
        let root = crate::workspace_root();
        let current = workspace_version(
            &std::fs::read_to_string(root.join(MANIFEST)).unwrap_or_else(|e| panic!("{e}")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let core: Vec<u64> = current
            .split(['-', '+'])
            .next()
            .unwrap_or_default()
            .split('.')
            .filter_map(|n| n.parse().ok())
            .collect();
        assert_eq!(core.len(), 3, "{current}");
        let version = Version::parse(&format!("{}.{}.{}-dryrun.1", core[0], core[1], core[2] + 1))
            .unwrap_or_else(|e| panic!("{e}"));

        let tracked = |what: &[&str]| git(&root, what).unwrap_or_else(|e| panic!("{e}"));
        let status_before = tracked(&["status", "--porcelain"]);
        let diff_before = tracked(&["diff"]);
        let opts = Options {
            version: version.clone(),
            execute: false,
            allow_dirty: true,
            skip_checks: true,
        };
        release(&root, &opts).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(tracked(&["status", "--porcelain"]), status_before);
        assert_eq!(tracked(&["diff"]), diff_before);
        assert!(
            !git_ok(
                &root,
                &[
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    &format!("refs/tags/{}", version.tag())
                ]
            )
            .unwrap_or(true)
        );

        let dist = root.join("dist");
        let check = Command::new("sha256sum")
            .args(["-c", "SHA256SUMS"])
            .current_dir(&dist)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(check.status.success(), "{check:?}");
        let name = String::from_utf8_lossy(&check.stdout)
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(name.starts_with(&format!("shiphold-{version}-")), "{name}");

        let unpacked = crate::release::target_dir(&root)
            .join("xtask-release")
            .join("unpacked");
        let _ = std::fs::remove_dir_all(&unpacked);
        std::fs::create_dir_all(&unpacked).unwrap_or_else(|e| panic!("{e}"));
        let untar = Command::new("tar")
            .arg("xzf")
            .arg(dist.join(&name))
            .arg("-C")
            .arg(&unpacked)
            .status()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(untar.success());
        let top = unpacked.join(format!("shiphold-{version}"));
        for file in [
            "bin/shiphold",
            "README.md",
            "LICENSE",
            "CHANGELOG.md",
            "shiphold.example.toml",
            "migrations/sqlite",
            "migrations/postgres",
        ] {
            assert!(top.join(file).exists(), "the tarball lacks {file}");
        }
        let reported = command_output(Command::new(top.join("bin/shiphold")).arg("--version"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reported.trim(), format!("shiphold {version}"));
        let changelog = std::fs::read_to_string(top.join("CHANGELOG.md")).unwrap_or_default();
        assert!(
            changelog.contains(&format!("## {version} — ")),
            "{changelog}"
        );
        let _ = std::fs::remove_dir_all(&unpacked);
    }

    #[test]
    fn new_sections_go_above_older_releases() {
        let first = insert_section("", "## 0.1.0 — 2026-01-01\n\n- a\n");
        assert!(first.starts_with("# Changelog\n"));
        let second = insert_section(&first, "## 0.2.0 — 2026-02-01\n\n- b\n");
        let new = second.find("## 0.2.0").unwrap_or(usize::MAX);
        let old = second.find("## 0.1.0").unwrap_or(0);
        assert!(new < old, "{second}");
        assert!(second.starts_with("# Changelog\n"));
    }
}
