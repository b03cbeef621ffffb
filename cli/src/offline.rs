//! Subcommands that need no registry: `compat`, `diff`, `lint`. All the deciding is
//! accord-compat's (parsing and compatibility) and `lint`'s; this module reads files (from
//! the working tree, or from git), builds a [`Report`] and picks the exit code.
//!
//! # `accord compat --level L [--format F] [--reference NAME=FILE]... OLD... NEW`
//!
//! OLD... are versions 1..n in the order given; NEW is checked against them at L exactly
//! as the registry would (non-transitive levels compare with the last OLD only). The
//! references (the transitive closure, dependencies first) are used for every file.
//!
//! # `accord diff --base REV`
//!
//! Needs the manifest. The changed schemas are the mapped files that differ between REV
//! and the working tree (`git diff --name-only REV`, so uncommitted changes count, plus
//! untracked files), and every mapped schema whose (transitive) references changed. Each
//! is checked against its text at REV, with its references as they were at REV, at the
//! entry's level, else the manifest's, else BACKWARD (the registry's default). Offline
//! there is only the one earlier version (the one at REV), so a transitive level compares
//! with that version alone; `accord check` asks the registry about all of them. A schema
//! absent at REV is new: a passing check with no level. The texts at REV come from one
//! `git cat-file --batch` for all files.
//!
//! # `accord lint [FILES]`
//!
//! Lints FILES, or every mapped schema without FILES, with the manifest's `lint:` rules,
//! or the default set (every rule as a warning; see `lint.rs`) when there is no manifest
//! or it has no `lint:` section. A FILE the manifest maps is parsed with its references.

use crate::exit::{CliError, CliResult, Outcome};
use crate::locate::SourceMap;
use crate::manifest::{self, git_cause, Entry, LoadedSchema, Manifest};
use crate::report::{display_path, Check, Finding, Report, Severity};
use crate::Global;
use accord_compat::{CompatibilityLevel, Existing, ParsedSchema, Reference, SchemaFormat};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Check a new schema against older ones, offline.
#[derive(clap::Args, Debug)]
pub struct CompatArgs {
    /// Compatibility level to apply.
    #[arg(long, default_value = "BACKWARD")]
    pub level: String,
    /// AVRO, PROTOBUF or JSON (default: from the file extension .avsc/.proto/.json).
    #[arg(long)]
    pub format: Option<String>,
    /// A referenced schema, NAME=FILE (repeatable).
    #[arg(long = "reference", value_name = "NAME=FILE")]
    pub references: Vec<String>,
    /// OLD... NEW: the older versions, oldest first, then the new schema.
    #[arg(required = true, num_args = 2.., value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Check every schema changed since a git revision against its version at that revision.
#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// The git revision to compare with (e.g. origin/main).
    #[arg(long)]
    pub base: String,
    /// Also print, for each incompatible subject, the teams it would affect (asks the
    /// registry at --url: its stream's declared consumers and the readers seen in the
    /// last 30 days).
    #[arg(long)]
    pub impact: bool,
}

/// Lint schema files (default: every schema in the manifest).
#[derive(clap::Args, Debug)]
pub struct LintArgs {
    pub files: Vec<PathBuf>,
}

fn read_file(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("{}: cannot read: {e}", display_path(path))))
}

/// Parses `text`; the error is `LABEL: <parse error>` on one line (exit 2).
fn parse_schema(
    label: &str,
    format: SchemaFormat,
    text: &str,
    references: &[Reference],
) -> Result<ParsedSchema, CliError> {
    accord_compat::parse(format, text, references).map_err(|e| {
        let message = e.message.split_whitespace().collect::<Vec<_>>().join(" ");
        CliError::usage(format!("{label}: {message}"))
    })
}

fn source_map(text: &str, parsed: &ParsedSchema) -> SourceMap {
    match parsed {
        ParsedSchema::Protobuf(p) => SourceMap::proto(p),
        _ => SourceMap::json(text),
    }
}

/// Turns accord-compat's incompatibilities into findings located in the new file.
/// Forward findings point into the older (reader) schema: Avro paths are carried over by
/// field name; Protobuf and JSON Schema paths are name-based already.
fn findings_of(
    report: accord_compat::Report,
    new_map: &SourceMap,
    old_maps: &dyn Fn(i32) -> Option<SourceMap>,
    keep_version: bool,
) -> Vec<Finding> {
    let mut cache: HashMap<i32, Option<SourceMap>> = HashMap::new();
    report
        .incompatibilities
        .into_iter()
        .map(|inc| {
            let line = match (inc.direction, inc.version) {
                (accord_compat::Direction::Forward, Some(v)) => {
                    let old = cache.entry(v).or_insert_with(|| old_maps(v));
                    match old {
                        Some(old) => new_map.locate(&old.translate_avro(&inc.path)),
                        None => new_map.locate(&inc.path),
                    }
                }
                _ => new_map.locate(&inc.path),
            };
            let direction = match inc.direction {
                accord_compat::Direction::Backward => "backward",
                accord_compat::Direction::Forward => "forward",
            };
            Finding {
                severity: Severity::Error,
                rule: inc.kind,
                path: inc.path,
                version: if keep_version { inc.version } else { None },
                direction: Some(direction.to_string()),
                message: inc.message,
                line,
            }
        })
        .collect()
}

fn outcome(report: &Report, global: &Global) -> CliResult {
    report.print(global);
    Ok(if report.failed() {
        Outcome::Failed
    } else {
        Outcome::Ok
    })
}

pub fn compat(global: &Global, args: CompatArgs) -> CliResult {
    let level =
        manifest::parse_level(&args.level).map_err(|e| CliError::usage(format!("--level: {e}")))?;
    let Some((new_path, old_paths)) = args.files.split_last() else {
        return Err(CliError::usage("compat: give OLD... NEW"));
    };
    let format = match &args.format {
        Some(f) => manifest::parse_format(f)
            .map_err(|e| CliError::usage(format!("--format: {e}")))?,
        None => manifest::format_from_extension(new_path).ok_or_else(|| {
            CliError::usage(format!(
                "{}: cannot tell the format from the extension (.avsc, .proto, .json); pass --format",
                display_path(new_path)
            ))
        })?,
    };
    let mut references = Vec::with_capacity(args.references.len());
    for r in &args.references {
        let (name, file) = r
            .split_once('=')
            .filter(|(n, f)| !n.is_empty() && !f.is_empty())
            .ok_or_else(|| CliError::usage(format!("--reference '{r}': expected NAME=FILE")))?;
        references.push(Reference::new(name, read_file(Path::new(file))?));
    }
    let mut texts = Vec::with_capacity(args.files.len());
    let mut parsed = Vec::with_capacity(args.files.len());
    for path in &args.files {
        let text = read_file(path)?;
        parsed.push(parse_schema(
            &display_path(path),
            format,
            &text,
            &references,
        )?);
        texts.push(text);
    }
    let (new, olds) = parsed.split_last().unwrap_or_else(|| unreachable!());
    let existing: Vec<Existing<'_>> = olds
        .iter()
        .enumerate()
        .map(|(i, schema)| Existing {
            version: i32::try_from(i + 1).unwrap_or(i32::MAX),
            schema,
        })
        .collect();
    let result = accord_compat::check(level, new, &existing);
    let new_text = texts.last().map(String::as_str).unwrap_or("");
    let new_map = source_map(new_text, new);
    let old_map = |v: i32| -> Option<SourceMap> {
        let i = usize::try_from(v).ok()?.checked_sub(1)?;
        Some(source_map(texts.get(i)?, olds.get(i)?))
    };
    let findings = findings_of(result, &new_map, &old_map, true);
    let _ = old_paths;
    let report = Report {
        command: "compat".into(),
        checks: vec![Check {
            kind: "compatibility".into(),
            file: Some(new_path.clone()),
            subject: None,
            format: Some(format.as_str().into()),
            level: Some(level.as_str().into()),
            findings,
        }],
    };
    outcome(&report, global)
}

/// Runs git in `root`; a failure is a usage error with git's one-line cause.
fn git(root: &Path, args: &[&str]) -> Result<String, CliError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .map_err(|e| CliError::usage(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(CliError::usage(git_cause(&String::from_utf8_lossy(
            &out.stderr,
        ))));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn diff(global: &Global, args: DiffArgs) -> CliResult {
    let rev = args.base.trim();
    if rev.is_empty() || rev.starts_with('-') {
        return Err(CliError::usage(format!(
            "diff: --base '{}' is not a git revision",
            args.base
        )));
    }
    let manifest = Manifest::find(global)?.ok_or_else(|| {
        CliError::usage(format!(
            "diff: no {} found (in this directory or above, up to the git root); pass --manifest",
            manifest::FILE_NAME
        ))
    })?;
    let root = manifest.root.clone();
    let mut changed: HashSet<PathBuf> = HashSet::new();
    let listed = git(
        &root,
        &[
            "diff",
            "--name-only",
            "--relative",
            "--no-renames",
            rev,
            "--",
        ],
    )?;
    let untracked = git(&root, &["ls-files", "--others", "--exclude-standard"])?;
    for line in listed.lines().chain(untracked.lines()) {
        if !line.is_empty() {
            changed.insert(PathBuf::from(line));
        }
    }
    let entries: Vec<&Entry> = manifest
        .schemas
        .iter()
        .filter(|e| manifest.files_of(e).iter().any(|f| changed.contains(*f)))
        .collect();
    let mut needed: Vec<&Path> = Vec::new();
    let mut seen: HashSet<&Path> = HashSet::new();
    for e in &entries {
        for f in manifest.files_of(e) {
            if seen.insert(f) {
                needed.push(f);
            }
        }
    }
    let at_rev = manifest::read_at_rev(&root, rev, &needed)?;
    let mut checks = Vec::with_capacity(entries.len());
    for entry in entries {
        let label = display_path(&entry.file);
        let now = manifest.load_schema(entry)?;
        let new = parse_schema(&label, entry.format, &now.text, &now.references)?;
        let mut read_old = |f: &Path| -> Result<Option<String>, CliError> {
            match at_rev.get(f) {
                Some(Some(text)) => Ok(Some(text.clone())),
                // A reference that is new since REV: the old schema cannot have used it
                // under this name, but its text now is the best stand-in.
                Some(None) if f != entry.file => manifest.read_worktree(f).map(Some),
                _ => Ok(None),
            }
        };
        let before: Option<LoadedSchema> = manifest.load_with(entry, &mut read_old)?;
        let mut check = Check {
            kind: "compatibility".into(),
            file: Some(entry.file.clone()),
            subject: Some(entry.subject.clone()),
            format: Some(entry.format.as_str().into()),
            level: None,
            findings: Vec::new(),
        };
        if let Some(before) = before {
            let old = parse_schema(
                &format!("{label} at {rev}"),
                entry.format,
                &before.text,
                &before.references,
            )?;
            let level = manifest.level_of(entry);
            check.level = Some(level.as_str().into());
            if level != CompatibilityLevel::None {
                let result = accord_compat::check(
                    level,
                    &new,
                    &[Existing {
                        version: 1,
                        schema: &old,
                    }],
                );
                let new_map = source_map(&now.text, &new);
                let old_map = |_: i32| Some(source_map(&before.text, &old));
                check.findings = findings_of(result, &new_map, &old_map, false);
            }
        }
        checks.push(check);
    }
    let report = Report {
        command: "diff".into(),
        checks,
    };
    let result = outcome(&report, global);
    if args.impact {
        crate::usage::print_impact(global, &report.failed_subjects())?;
    }
    result
}

pub fn lint(global: &Global, args: LintArgs) -> CliResult {
    let manifest = Manifest::find(global)?;
    let config = manifest
        .as_ref()
        .map(|m| m.lint.clone())
        .unwrap_or_default();
    let mut checks = Vec::new();
    if args.files.is_empty() {
        let manifest = manifest.ok_or_else(|| {
            CliError::usage(format!(
                "lint: name the files to lint, or run it where an {} maps the schemas",
                manifest::FILE_NAME
            ))
        })?;
        for entry in &manifest.schemas {
            let loaded = manifest.load_schema(entry)?;
            checks.push(lint_one(
                &config,
                entry.file.clone(),
                Some(entry.subject.clone()),
                entry.format,
                &loaded,
            )?);
        }
    } else {
        for path in &args.files {
            let mapped = manifest
                .as_ref()
                .and_then(|m| m.entry_for_path(path).map(|e| (m, e)));
            let (format, subject, loaded) = match mapped {
                Some((m, e)) => (e.format, Some(e.subject.clone()), m.load_schema(e)?),
                None => {
                    let format = manifest::format_from_extension(path).ok_or_else(|| {
                        CliError::usage(format!(
                            "{}: cannot tell the format from the extension (.avsc, .proto, .json)",
                            display_path(path)
                        ))
                    })?;
                    let text = read_file(path)?;
                    (
                        format,
                        None,
                        LoadedSchema {
                            text,
                            references: Vec::new(),
                        },
                    )
                }
            };
            checks.push(lint_one(&config, path.clone(), subject, format, &loaded)?);
        }
    }
    let report = Report {
        command: "lint".into(),
        checks,
    };
    outcome(&report, global)
}

fn lint_one(
    config: &crate::lint::LintConfig,
    file: PathBuf,
    subject: Option<String>,
    format: SchemaFormat,
    loaded: &LoadedSchema,
) -> Result<Check, CliError> {
    let parsed = parse_schema(
        &display_path(&file),
        format,
        &loaded.text,
        &loaded.references,
    )?;
    Ok(Check {
        kind: "lint".into(),
        file: Some(file),
        subject,
        format: Some(format.as_str().into()),
        level: None,
        findings: crate::lint::lint(config, &loaded.text, &parsed),
    })
}
