//! What `cargo xtask bench` reports: the rows of a backend's table, the whole run as JSON, the
//! Markdown table, and the marked section of `docs/benchmarks.md` it replaces.

use anyhow::{Result, bail};
use serde::Serialize;

use super::load::Measured;

/// The markers around the generated part of `docs/benchmarks.md`.
pub(crate) const START_MARK: &str = "<!-- bench:start -->";
pub(crate) const END_MARK: &str = "<!-- bench:end -->";

/// One row of a backend's table: a phase, a delivery rate, a raw limit, a ratio or a memory
/// figure. Only the fields that apply are set.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Row {
    pub what: String,
    /// The target as text ("≥ 3,000/s, p99 ≤ 50 ms"); `None`: context only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Requests, messages or writes counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_sec: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mib: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<u64>,
    /// The server's largest resident set while the row was measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_mib: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub first_errors: Vec<String>,
}

impl Row {
    /// A row of measured requests or writes.
    pub(crate) fn measured(what: &str, target: Option<String>, m: &Measured) -> Self {
        Row {
            what: what.to_owned(),
            target,
            count: Some(m.latencies_us.len() as u64),
            seconds: Some(m.elapsed.as_secs_f64()),
            per_sec: Some(m.per_sec()),
            p50_ms: Some(m.percentile_ms(50.0)),
            p95_ms: Some(m.percentile_ms(95.0)),
            p99_ms: Some(m.percentile_ms(99.0)),
            errors: Some(m.errors),
            first_errors: m.first_errors.clone(),
            ..Row::default()
        }
    }

    /// A rate of `count` in `seconds`.
    pub(crate) fn rate(what: &str, target: Option<String>, count: u64, seconds: f64) -> Self {
        Row {
            what: what.to_owned(),
            target,
            count: Some(count),
            seconds: Some(seconds),
            per_sec: Some(if seconds > 0.0 {
                count as f64 / seconds
            } else {
                0.0
            }),
            ..Row::default()
        }
    }

    /// A ratio.
    pub(crate) fn ratio(what: &str, target: Option<String>, ratio: f64, note: String) -> Self {
        Row {
            what: what.to_owned(),
            target,
            ratio: Some(ratio),
            note: Some(note),
            ..Row::default()
        }
    }

    pub(crate) fn with_note(mut self, note: impl Into<String>) -> Self {
        let note = note.into();
        self.note = Some(match self.note.take() {
            Some(old) => format!("{old}; {note}"),
            None => note,
        });
        self
    }
}

/// One backend's results.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BackendReport {
    pub backend: String,
    pub rows: Vec<Row>,
    /// What else the reader should know (seeding, drains, suspicious answers).
    pub notes: Vec<String>,
}

/// The machine the run was made on.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Machine {
    pub cores: usize,
    pub memory_mib: u64,
    pub cpu: String,
}

/// The whole run, as `docs/bench/latest.json` holds it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub date: String,
    pub commit: String,
    pub command: String,
    pub machine: Machine,
    /// How the run was made: sizes, durations, the generator's runtime.
    pub setup: serde_json::Value,
    pub backends: Vec<BackendReport>,
}

/// 12345.6 → "12,346".
pub(crate) fn thousands(value: f64) -> String {
    let rounded = value.round();
    let digits = format!("{:.0}", rounded.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if rounded < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(String::new, |v| {
        if v >= 100.0 {
            format!("{v:.0} ms")
        } else {
            format!("{v:.1} ms")
        }
    })
}

/// A backend's results as a Markdown table, with its notes below.
pub(crate) fn table(report: &BackendReport) -> String {
    let mut out = String::from(
        "| what | target | measured | p50 | p95 | p99 | errors | peak RSS |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in &report.rows {
        let mut measured = match (row.per_sec, row.ratio, row.mib) {
            (Some(rate), _, _) => format!("{}/s", thousands(rate)),
            (None, Some(ratio), _) => format!("{ratio:.2}"),
            (None, None, Some(mib)) => format!("{mib:.0} MiB"),
            (None, None, None) => "—".into(),
        };
        if let (Some(count), Some(seconds)) = (row.count, row.seconds) {
            measured.push_str(&format!(" ({} in {seconds:.1} s)", thousands(count as f64)));
        }
        let what = match &row.note {
            Some(note) => format!("{} — {note}", row.what),
            None => row.what.clone(),
        };
        out.push_str(&format!(
            "| {what} | {} | {measured} | {} | {} | {} | {} | {} |\n",
            row.target.as_deref().unwrap_or("—"),
            ms(row.p50_ms),
            ms(row.p95_ms),
            ms(row.p99_ms),
            row.errors.map_or_else(String::new, |e| thousands(e as f64)),
            row.peak_rss_mib
                .map_or_else(String::new, |m| format!("{m:.0} MiB")),
        ));
    }
    for note in &report.notes {
        out.push_str(&format!("\n- {note}"));
    }
    if !report.notes.is_empty() {
        out.push('\n');
    }
    out
}

/// The generated section of `docs/benchmarks.md`, markers excluded.
pub(crate) fn section(report: &Report) -> String {
    let m = &report.machine;
    let mut out = format!(
        "\n## Latest run\n\n{date}, commit `{commit}`, on {cores} cores ({cpu}) with {mem} MiB of \
         memory. Server, load generator and ERP receiver share the machine; the generator and \
         the receiver run on one tokio runtime with 2 worker threads.\n\n```sh\n{command}\n```\n",
        date = report.date,
        commit = report.commit,
        cores = m.cores,
        cpu = m.cpu,
        mem = thousands(m.memory_mib as f64),
        command = report.command,
    );
    for backend in &report.backends {
        out.push_str(&format!("\n### {}\n\n{}", backend.backend, table(backend)));
    }
    out.push_str(
        "\nThe same run as JSON: [bench/latest.json](bench/latest.json) (every figure unrounded, \
         and the first failed answers of each phase).\n",
    );
    out
}

/// `page` with the text between the bench markers replaced by `section`.
pub(crate) fn replace_section(page: &str, section: &str) -> Result<String> {
    let (Some(start), Some(end)) = (page.find(START_MARK), page.find(END_MARK)) else {
        bail!("the page has no {START_MARK} … {END_MARK} section");
    };
    if end < start {
        bail!("{END_MARK} comes before {START_MARK}");
    }
    let body_start = start + START_MARK.len();
    Ok(format!(
        "{}{}\n{}",
        &page[..body_start],
        section.trim_end_matches('\n'),
        &page[end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_marked_section() {
        let page = "# Benchmarks\n\nintro\n<!-- bench:start -->\nold table\n<!-- bench:end -->\n\nthe rest\n";
        let new = replace_section(page, "\nnew table\n").unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(
            new,
            "# Benchmarks\n\nintro\n<!-- bench:start -->\nnew table\n<!-- bench:end -->\n\nthe rest\n"
        );
        // Replacing again gives the same page: the markers stay.
        assert_eq!(
            replace_section(&new, "\nnew table\n").unwrap_or_else(|e| panic!("{e:#}")),
            new
        );
        assert!(replace_section("# no markers\n", "x").is_err());
        assert!(replace_section("<!-- bench:end --> <!-- bench:start -->", "x").is_err());
    }

    #[test]
    fn formats_thousands_and_tables() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1234.5), "1,235");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
        let report = BackendReport {
            backend: "SQLite".into(),
            rows: vec![
                Row::rate("delivery", Some("≥ 2,000/s".into()), 3000, 1.5),
                Row::ratio("server ÷ raw", Some("≥ 0.6".into()), 0.5, "1 ÷ 2".into()),
            ],
            notes: vec!["a note".into()],
        };
        let text = table(&report);
        assert!(
            text.contains("| delivery | ≥ 2,000/s | 2,000/s (3,000 in 1.5 s) |"),
            "{text}"
        );
        assert!(
            text.contains("| server ÷ raw — 1 ÷ 2 | ≥ 0.6 | 0.50 |"),
            "{text}"
        );
        assert!(text.ends_with("\n- a note\n"), "{text}");
    }
}
