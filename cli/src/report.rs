//! The result of a check (compatibility or lint) and its renderings: text, json, junit,
//! github. Every checking subcommand (`compat`, `check`, `diff`, `lint`) builds a
//! [`Report`] and hands it to [`Report::render`] (or [`Report::print`]).
//!
//! # `--output text` (the default)
//!
//! One header line per check (`OK`/`FAILED`, file, subject, level), one indented line per
//! finding (severity, rule or incompatibility kind, path and line, the version it
//! conflicts with, message), and a summary line. ANSI colour only when stdout is a
//! terminal and `NO_COLOR` is unset or empty (<https://no-color.org>).
//!
//! # `--output json`: a stable structure (version 1)
//!
//! ```json
//! {
//!   "version": 1,                  // integer: this layout; bumped on incompatible change
//!   "command": "compat",           // string: compat | check | diff | lint
//!   "ok": false,                   // bool: false iff any finding is an error (exit 1)
//!   "summary": {
//!     "checks": 2,                 // integer: checks run (schemas checked or linted)
//!     "failed": 1,                 // integer: checks with at least one error
//!     "errors": 3,                 // integer: error findings, all checks
//!     "warnings": 1                // integer: warning findings, all checks
//!   },
//!   "checks": [{
//!     "kind": "compatibility",     // string: compatibility | lint
//!     "file": "schemas/order.avsc",// string|null: the schema file, as named on the command
//!                                  //   line, or relative to the manifest in repository mode
//!     "subject": "orders-value",   // string|null
//!     "format": "AVRO",            // string|null: AVRO | PROTOBUF | JSON
//!     "level": "BACKWARD",         // string|null: the level applied (compatibility checks);
//!                                  //   null for a compatibility check means there was no
//!                                  //   earlier version to compare with (a new schema)
//!     "ok": false,                 // bool: no error finding in this check
//!     "errors": 1,                 // integer
//!     "warnings": 0,               // integer
//!     "findings": [{
//!       "severity": "error",       // string: error | warning
//!       "rule": "READER_FIELD_MISSING_DEFAULT_VALUE", // string: incompatibility kind or lint rule id
//!       "path": "/fields/2",       // string: where in the schema (accord-compat's path dialect:
//!                                  //   Avro JSON pointer, Protobuf full name, JSON Schema `#/...`)
//!       "version": 1,              // integer|null: the version it conflicts with
//!       "direction": "backward",   // string|null: backward | forward (compatibility findings)
//!       "message": "...",          // string: one line for a person
//!       "line": 14                 // integer|null: 1-based line in `file`, when located
//!     }]
//!   }]
//! }
//! ```
//! Fields are only ever added to this layout; a removal or a change of meaning bumps
//! `version`.
//!
//! # `--output junit`
//!
//! JUnit XML: one `<testsuite>` named `accord <command>`, one `<testcase>` per check
//! (`name` = the file, or the subject; `classname` = `accord.<command>.<kind>`), a
//! `<failure>` holding every finding when the check has errors, and warnings in
//! `<system-out>`.
//!
//! # `--output github`
//!
//! GitHub Actions workflow commands: `::error file=F,line=L,title=RULE::message` (or
//! `::warning`) per finding, `line=` omitted when the line is unknown, then the summary
//! line as plain text.

use crate::Global;
use serde::Serialize;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
    Junit,
    Github,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One thing wrong: an incompatibility or a lint finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// The incompatibility kind (e.g. `READER_FIELD_MISSING_DEFAULT`) or the lint rule id
    /// (e.g. `doc-required`).
    pub rule: String,
    /// Where in the schema, as accord-compat reports it (e.g. `/fields/3/type`).
    pub path: String,
    /// The registered (or older) version this conflicts with, for compatibility findings.
    pub version: Option<i32>,
    /// `backward` or `forward`, for compatibility findings.
    pub direction: Option<String>,
    pub message: String,
    /// 1-based line in `Check::file` where `path` was found, when it could be located.
    pub line: Option<u32>,
}

/// One schema checked against one thing (older versions, or lint rules).
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `compatibility` or `lint`.
    pub kind: String,
    /// The schema file checked, as the user named it (relative to the manifest root in
    /// repository mode).
    pub file: Option<PathBuf>,
    pub subject: Option<String>,
    /// `AVRO`, `PROTOBUF` or `JSON`.
    pub format: Option<String>,
    /// The compatibility level applied, for compatibility checks.
    pub level: Option<String>,
    pub findings: Vec<Finding>,
}

impl Check {
    pub fn errors(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count()
    }

    /// The file as text with `/` separators (stable across platforms), if any.
    fn file_text(&self) -> Option<String> {
        self.file.as_deref().map(display_path)
    }

    /// What names this check in one-line outputs: the file, else the subject.
    fn name(&self) -> String {
        self.file_text()
            .or_else(|| self.subject.clone())
            .unwrap_or_else(|| "schema".to_string())
    }
}

/// Everything one command checked.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The subcommand: `compat`, `check`, `diff`, `lint`.
    pub command: String,
    pub checks: Vec<Check>,
}

/// `a/b/c` whatever the platform separator.
pub fn display_path(p: &Path) -> String {
    let s = p.to_string_lossy();
    if std::path::MAIN_SEPARATOR == '/' {
        s.into_owned()
    } else {
        s.replace(std::path::MAIN_SEPARATOR, "/")
    }
}

const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const GREEN: &str = "\x1b[32m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Report {
    /// True when any finding is an error (exit 1).
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.errors() > 0)
    }

    /// The subjects of the checks that failed, once each, in order.
    pub fn failed_subjects(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in self.checks.iter().filter(|c| c.errors() > 0) {
            if let Some(s) = &c.subject {
                if !out.contains(s) {
                    out.push(s.clone());
                }
            }
        }
        out
    }

    fn totals(&self) -> (usize, usize, usize) {
        let failed = self.checks.iter().filter(|c| c.errors() > 0).count();
        let errors = self.checks.iter().map(Check::errors).sum();
        let warnings = self.checks.iter().map(Check::warnings).sum();
        (failed, errors, warnings)
    }

    /// `2 schemas checked, 1 incompatible: 3 errors, 1 warning`.
    pub fn summary(&self) -> String {
        let (failed, errors, warnings) = self.totals();
        let lint = self.command == "lint";
        let verb = if lint { "linted" } else { "checked" };
        let bad = if lint { "with errors" } else { "incompatible" };
        let mut s = format!("{} {verb}", plural(self.checks.len(), "schema", "schemas"));
        if failed > 0 {
            let _ = write!(s, ", {failed} {bad}");
        }
        if errors + warnings > 0 {
            let _ = write!(
                s,
                ": {}, {}",
                plural(errors, "error", "errors"),
                plural(warnings, "warning", "warnings")
            );
        } else {
            s.push_str(": no findings");
        }
        s
    }

    /// The report in `format`; `color` adds ANSI colour to the text format only.
    pub fn render(&self, format: OutputFormat, color: bool) -> String {
        match format {
            OutputFormat::Text => self.render_text(color),
            OutputFormat::Json => self.render_json(),
            OutputFormat::Junit => self.render_junit(),
            OutputFormat::Github => self.render_github(),
        }
    }

    /// Prints the report to stdout in `--output`'s format, coloured only when stdout is a
    /// terminal and `NO_COLOR` is unset or empty.
    pub fn print(&self, global: &Global) {
        let color = global.output == OutputFormat::Text && use_color();
        print!("{}", self.render(global.output, color));
    }

    fn render_text(&self, color: bool) -> String {
        let paint = |code: &'static str, text: &str| -> String {
            if color {
                format!("{code}{text}{RESET}")
            } else {
                text.to_string()
            }
        };
        let mut out = String::new();
        for check in &self.checks {
            let status = if check.errors() > 0 {
                paint(RED, "FAILED")
            } else if check.warnings() > 0 {
                paint(YELLOW, "OK    ")
            } else {
                paint(GREEN, "OK    ")
            };
            let mut head = check.name();
            if let (Some(subject), Some(_)) = (&check.subject, &check.file) {
                let _ = write!(head, " ({subject})");
            }
            let _ = write!(out, "{status} {}", paint(BOLD, &head));
            if let Some(format) = &check.format {
                let _ = write!(out, "  {format}");
            }
            if check.kind == "compatibility" {
                match &check.level {
                    Some(level) => {
                        let _ = write!(out, " {level}");
                    }
                    None => out.push_str(" (new: no earlier version to compare with)"),
                }
            }
            out.push('\n');
            for f in &check.findings {
                let sev = match f.severity {
                    Severity::Error => paint(RED, "error  "),
                    Severity::Warning => paint(YELLOW, "warning"),
                };
                let _ = write!(out, "  {sev} {}", f.rule);
                let mut at = String::new();
                if !f.path.is_empty() {
                    at.push_str(&f.path);
                }
                if let Some(line) = f.line {
                    if !at.is_empty() {
                        at.push(' ');
                    }
                    let _ = write!(at, "(line {line})");
                }
                if !at.is_empty() {
                    let _ = write!(out, " at {at}");
                }
                if let Some(v) = f.version {
                    let _ = write!(out, " vs version {v}");
                }
                if let Some(d) = &f.direction {
                    let _ = write!(out, " {}", paint(DIM, &format!("[{d}]")));
                }
                let _ = writeln!(out, ": {}", one_line(&f.message));
            }
        }
        let summary = self.summary();
        let summary = if self.failed() {
            paint(RED, &summary)
        } else {
            paint(GREEN, &summary)
        };
        let _ = writeln!(out, "{summary}");
        out
    }

    fn render_json(&self) -> String {
        #[derive(Serialize)]
        struct Summary {
            checks: usize,
            failed: usize,
            errors: usize,
            warnings: usize,
        }
        #[derive(Serialize)]
        struct JsonCheck<'a> {
            kind: &'a str,
            file: Option<String>,
            subject: Option<&'a str>,
            format: Option<&'a str>,
            level: Option<&'a str>,
            ok: bool,
            errors: usize,
            warnings: usize,
            findings: &'a [Finding],
        }
        #[derive(Serialize)]
        struct JsonReport<'a> {
            version: u32,
            command: &'a str,
            ok: bool,
            summary: Summary,
            checks: Vec<JsonCheck<'a>>,
        }
        let (failed, errors, warnings) = self.totals();
        let doc = JsonReport {
            version: 1,
            command: &self.command,
            ok: !self.failed(),
            summary: Summary {
                checks: self.checks.len(),
                failed,
                errors,
                warnings,
            },
            checks: self
                .checks
                .iter()
                .map(|c| JsonCheck {
                    kind: &c.kind,
                    file: c.file_text(),
                    subject: c.subject.as_deref(),
                    format: c.format.as_deref(),
                    level: c.level.as_deref(),
                    ok: c.errors() == 0,
                    errors: c.errors(),
                    warnings: c.warnings(),
                    findings: &c.findings,
                })
                .collect(),
        };
        let mut s = serde_json::to_string_pretty(&doc)
            .unwrap_or_else(|e| format!("{{\"version\":1,\"error\":\"{e}\"}}"));
        s.push('\n');
        s
    }

    fn render_junit(&self) -> String {
        let (failed, _, _) = self.totals();
        let suite = format!("accord {}", self.command);
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\">",
            xml_escape(&suite),
            self.checks.len()
        );
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\">",
            xml_escape(&suite),
            self.checks.len()
        );
        for check in &self.checks {
            let mut name = check.name();
            if let (Some(subject), Some(_)) = (&check.subject, &check.file) {
                let _ = write!(name, " ({subject})");
            }
            let classname = format!("accord.{}.{}", self.command, check.kind);
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\"",
                xml_escape(&name),
                xml_escape(&classname)
            );
            if check.findings.is_empty() {
                out.push_str("/>\n");
                continue;
            }
            out.push_str(">\n");
            let errors: Vec<&Finding> = check
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .collect();
            let warnings: Vec<&Finding> = check
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Warning)
                .collect();
            if !errors.is_empty() {
                let message = if check.kind == "lint" {
                    plural(errors.len(), "lint error", "lint errors")
                } else {
                    plural(errors.len(), "incompatibility", "incompatibilities")
                };
                let kind = if check.kind == "lint" {
                    "lint"
                } else {
                    "incompatible"
                };
                let _ = write!(
                    out,
                    "      <failure message=\"{}\" type=\"{kind}\">",
                    xml_escape(&message)
                );
                for f in &errors {
                    let _ = writeln!(out, "{}", xml_escape(&finding_line(f)));
                }
                out.push_str("</failure>\n");
            }
            if !warnings.is_empty() {
                out.push_str("      <system-out>");
                for f in &warnings {
                    let _ = writeln!(out, "{}", xml_escape(&finding_line(f)));
                }
                out.push_str("</system-out>\n");
            }
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }

    fn render_github(&self) -> String {
        let mut out = String::new();
        for check in &self.checks {
            for f in &check.findings {
                let mut props = Vec::new();
                if let Some(file) = check.file_text() {
                    props.push(format!("file={}", gh_property(&file)));
                }
                if let Some(line) = f.line {
                    props.push(format!("line={line}"));
                }
                props.push(format!("title={}", gh_property(&f.rule)));
                let mut message = String::new();
                if check.file.is_none() {
                    if let Some(subject) = &check.subject {
                        let _ = write!(message, "{subject}: ");
                    }
                }
                if !f.path.is_empty() {
                    let _ = write!(message, "{} ", f.path);
                }
                if let Some(v) = f.version {
                    let _ = write!(message, "vs version {v} ");
                }
                if !message.is_empty() {
                    message.truncate(message.trim_end().len());
                    message.push_str(": ");
                }
                message.push_str(&f.message);
                let _ = writeln!(
                    out,
                    "::{} {}::{}",
                    f.severity.as_str(),
                    props.join(","),
                    gh_data(&message)
                );
            }
        }
        let _ = writeln!(out, "{}", self.summary());
        out
    }
}

/// One line per finding for the junit bodies: `RULE at PATH (line N) vs version V [dir]: msg`.
fn finding_line(f: &Finding) -> String {
    let mut s = f.rule.clone();
    if !f.path.is_empty() {
        let _ = write!(s, " at {}", f.path);
    }
    if let Some(line) = f.line {
        let _ = write!(s, " (line {line})");
    }
    if let Some(v) = f.version {
        let _ = write!(s, " vs version {v}");
    }
    if let Some(d) = &f.direction {
        let _ = write!(s, " [{d}]");
    }
    let _ = write!(s, ": {}", one_line(&f.message));
    s
}

fn one_line(s: &str) -> String {
    if s.contains(['\n', '\r']) {
        s.split(['\n', '\r'])
            .filter(|l| !l.trim().is_empty())
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        s.to_string()
    }
}

/// Colour on: stdout is a terminal and `NO_COLOR` is unset or empty.
pub fn use_color() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stdout().is_terminal()
}

/// Escapes text for XML attribute values and character data; drops the control
/// characters XML 1.0 cannot carry at all.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push('\n'),
            '\t' => out.push('\t'),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

/// A workflow-command message: `%`, CR and LF escaped.
fn gh_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow-command property value: also `:` and `,`.
fn gh_property(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report {
            command: "check".into(),
            checks: vec![Check {
                kind: "compatibility".into(),
                file: None,
                subject: Some("orders-value".into()),
                format: Some("AVRO".into()),
                level: Some("BACKWARD".into()),
                findings: vec![Finding {
                    severity: Severity::Error,
                    rule: "TYPE_MISMATCH".into(),
                    path: "/fields/0/type".into(),
                    version: Some(3),
                    direction: Some("backward".into()),
                    message: "50% <bad>,\nreally".into(),
                    line: None,
                }],
            }],
        }
    }

    #[test]
    fn colour_only_when_asked() {
        let r = sample();
        let coloured = r.render(OutputFormat::Text, true);
        assert!(coloured.contains("\x1b[31mFAILED\x1b[0m"), "{coloured}");
        let plain = r.render(OutputFormat::Text, false);
        assert!(!plain.contains('\x1b'));
        assert!(
            plain.starts_with("FAILED orders-value  AVRO BACKWARD\n"),
            "{plain}"
        );
        assert!(!r.render(OutputFormat::Json, true).contains('\x1b'));
    }

    #[test]
    fn without_a_file_github_omits_file_and_line_and_names_the_subject() {
        let out = sample().render(OutputFormat::Github, false);
        assert_eq!(
            out.lines().next(),
            Some("::error title=TYPE_MISMATCH::orders-value: /fields/0/type vs version 3: 50%25 <bad>,%0Areally")
        );
        let xml = sample().render(OutputFormat::Junit, false);
        assert!(xml.contains("50% &lt;bad&gt;,"), "{xml}");
    }

    #[test]
    fn escapes() {
        assert_eq!(xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(gh_data("50%\nx"), "50%25%0Ax");
        assert_eq!(gh_property("a:b,c"), "a%3Ab%2Cc");
    }
}
