//! `accord.yaml`: the repository manifest mapping schema files to subjects, formats and
//! references, with the repository's compatibility level and lint rules.
//!
//! # Shape
//!
//! ```yaml
//! compatibility: FULL_TRANSITIVE        # optional: the level for every subject
//! schemas:                              # required: one entry per schema file
//!   - file: schemas/address.avsc        # required: relative to the manifest's directory
//!     subject: address-value            # required: unique
//!   - file: schemas/order.avsc
//!     subject: orders-value
//!     format: AVRO                      # optional: AVRO | PROTOBUF | JSON; default from
//!                                       #   the extension (.avsc, .proto, .json)
//!     compatibility: BACKWARD           # optional: overrides the top-level level
//!     references:                       # optional
//!       - name: com.acme.Address        # the name the schema uses (Avro full name,
//!                                       #   .proto import path, JSON Schema $ref)
//!         file: schemas/address.avsc    # must be another entry's file
//! lint:                                 # optional: see `lint.rs`
//!   doc-required: error
//!   field-naming: { level: warning, style: snake_case }
//! ```
//!
//! Loading rejects unknown keys, unknown formats and levels, duplicate files or subjects,
//! references to files that are not entries, and reference cycles; each error names the
//! key that is wrong (`accord.yaml: schemas[3].format: unknown format 'AVROO' ...`).
//!
//! The manifest is found from `--manifest`/`ACCORD_MANIFEST`, else as `accord.yaml` in
//! the current directory or the nearest parent, stopping at the git repository root.

use crate::exit::CliError;
use crate::report::display_path;
use accord_compat::{CompatibilityLevel, Reference, SchemaFormat};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

pub const FILE_NAME: &str = "accord.yaml";

/// A loaded, validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The directory holding `accord.yaml`; entry paths are relative to it.
    pub root: PathBuf,
    /// The repository-wide level; `None` means "ask the registry" (online) or
    /// BACKWARD, the registry default (offline).
    pub compatibility: Option<CompatibilityLevel>,
    pub schemas: Vec<Entry>,
    pub lint: crate::lint::LintConfig,
}

/// One schema file and the subject it is registered under.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Relative to `Manifest::root`, with `/` separators.
    pub file: PathBuf,
    pub subject: String,
    pub format: SchemaFormat,
    /// Overrides the manifest-wide level for this subject.
    pub compatibility: Option<CompatibilityLevel>,
    pub references: Vec<EntryReference>,
}

/// A reference from one mapped schema to another mapped schema.
#[derive(Debug, Clone)]
pub struct EntryReference {
    /// The name the referring schema uses (Avro full name, `.proto` import path, JSON `$ref` URL).
    pub name: String,
    /// The referenced schema's file: another entry of the same manifest.
    pub file: PathBuf,
}

/// A schema text with the transitive closure of its references (dependencies first),
/// ready for `accord_compat::parse`.
#[derive(Debug, Clone)]
pub struct LoadedSchema {
    pub text: String,
    pub references: Vec<Reference>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    compatibility: Option<String>,
    schemas: Vec<RawEntry>,
    lint: Option<serde_yaml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    file: String,
    subject: String,
    format: Option<String>,
    compatibility: Option<String>,
    #[serde(default)]
    references: Vec<RawReference>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReference {
    name: String,
    file: String,
}

/// `AVRO`/`avro` etc.; the error lists the accepted spellings.
pub fn parse_format(s: &str) -> Result<SchemaFormat, String> {
    match s.to_ascii_uppercase().as_str() {
        "AVRO" => Ok(SchemaFormat::Avro),
        "PROTOBUF" | "PROTO" => Ok(SchemaFormat::Protobuf),
        "JSON" => Ok(SchemaFormat::Json),
        _ => Err(format!(
            "unknown format '{s}' (expected AVRO, PROTOBUF or JSON)"
        )),
    }
}

/// The format a file's extension implies: `.avsc`, `.proto`, `.json`.
pub fn format_from_extension(path: &Path) -> Option<SchemaFormat> {
    match path.extension()?.to_str()? {
        "avsc" => Some(SchemaFormat::Avro),
        "proto" => Some(SchemaFormat::Protobuf),
        "json" => Some(SchemaFormat::Json),
        _ => None,
    }
}

/// A compatibility level name; the error lists the accepted names.
pub fn parse_level(s: &str) -> Result<CompatibilityLevel, String> {
    s.parse().map_err(|_| {
        format!(
            "unknown compatibility level '{s}' (expected NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL or FULL_TRANSITIVE)"
        )
    })
}

/// `./a/../b//c.avsc` → `b/c.avsc`; `None` for absolute paths or ones leaving the root.
fn normalise_relative(s: &str) -> Option<PathBuf> {
    let mut parts: Vec<String> = Vec::new();
    for c in Path::new(s).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?.to_string()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!parts.is_empty()).then(|| PathBuf::from(parts.join("/")))
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Manifest, CliError> {
        let label = display_path(path);
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::usage(format!("{label}: cannot read the manifest: {e}")))?;
        let root = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Manifest::parse(&text, root).map_err(|e| CliError::usage(format!("{label}: {e}")))
    }

    /// `--manifest` if given, else `accord.yaml` in the current directory or the nearest
    /// parent (stopping at the git root). `Ok(None)` when there is none.
    pub fn find(global: &crate::Global) -> Result<Option<Manifest>, CliError> {
        if let Some(path) = &global.manifest {
            return Manifest::load(path).map(Some);
        }
        let cwd = std::env::current_dir()
            .map_err(|e| CliError::usage(format!("cannot read the current directory: {e}")))?;
        let mut dir: &Path = &cwd;
        loop {
            let candidate = dir.join(FILE_NAME);
            if candidate.is_file() {
                let relative = relative_to(&candidate, &cwd);
                return Manifest::load(&relative).map(Some);
            }
            if dir.join(".git").exists() {
                return Ok(None);
            }
            match dir.parent() {
                Some(p) => dir = p,
                None => return Ok(None),
            }
        }
    }

    /// Parses manifest text whose entries are relative to `root`.
    pub fn parse(text: &str, root: PathBuf) -> Result<Manifest, String> {
        let raw: RawManifest = serde_yaml::from_str(text).map_err(|e| {
            // serde_yaml prefixes the key path (`schemas[3]: unknown field ...`).
            e.to_string()
        })?;
        let compatibility = raw
            .compatibility
            .as_deref()
            .map(parse_level)
            .transpose()
            .map_err(|e| format!("compatibility: {e}"))?;
        let mut schemas = Vec::with_capacity(raw.schemas.len());
        let mut files: HashMap<PathBuf, usize> = HashMap::new();
        let mut subjects: HashMap<&str, usize> = HashMap::new();
        for (i, e) in raw.schemas.iter().enumerate() {
            let at = format!("schemas[{i}]");
            let file = normalise_relative(&e.file).ok_or_else(|| {
                format!(
                    "{at}.file: '{}' must be a relative path inside the manifest's directory",
                    e.file
                )
            })?;
            if let Some(j) = files.insert(file.clone(), i) {
                return Err(format!(
                    "{at}.file: '{}' is already mapped by schemas[{j}]",
                    display_path(&file)
                ));
            }
            if e.subject.trim().is_empty() {
                return Err(format!("{at}.subject: must not be empty"));
            }
            if let Some(j) = subjects.insert(&e.subject, i) {
                return Err(format!(
                    "{at}.subject: '{}' is already mapped by schemas[{j}]",
                    e.subject
                ));
            }
            let format = match &e.format {
                Some(f) => parse_format(f).map_err(|m| format!("{at}.format: {m}"))?,
                None => format_from_extension(&file).ok_or_else(|| {
                    format!(
                        "{at}.format: cannot tell the format of '{}' from its extension; set format: AVRO, PROTOBUF or JSON",
                        display_path(&file)
                    )
                })?,
            };
            let compatibility = e
                .compatibility
                .as_deref()
                .map(parse_level)
                .transpose()
                .map_err(|m| format!("{at}.compatibility: {m}"))?;
            let mut references = Vec::with_capacity(e.references.len());
            for (k, r) in e.references.iter().enumerate() {
                let rat = format!("{at}.references[{k}]");
                if r.name.trim().is_empty() {
                    return Err(format!("{rat}.name: must not be empty"));
                }
                let rfile = normalise_relative(&r.file)
                    .ok_or_else(|| format!("{rat}.file: '{}' is not a relative path", r.file))?;
                references.push(EntryReference {
                    name: r.name.clone(),
                    file: rfile,
                });
            }
            schemas.push(Entry {
                file,
                subject: e.subject.clone(),
                format,
                compatibility,
                references,
            });
        }
        for (i, e) in schemas.iter().enumerate() {
            for (k, r) in e.references.iter().enumerate() {
                if !files.contains_key(&r.file) {
                    return Err(format!(
                        "schemas[{i}].references[{k}].file: '{}' is not mapped by any entry of schemas",
                        display_path(&r.file)
                    ));
                }
                if r.file == e.file {
                    return Err(format!(
                        "schemas[{i}].references[{k}].file: a schema cannot reference itself"
                    ));
                }
            }
        }
        let lint = match &raw.lint {
            Some(v) => crate::lint::LintConfig::from_yaml(v)?,
            None => crate::lint::LintConfig::default(),
        };
        let manifest = Manifest {
            root,
            compatibility,
            schemas,
            lint,
        };
        if let Some(cycle) = manifest.find_cycle() {
            return Err(format!("schemas: reference cycle: {cycle}"));
        }
        Ok(manifest)
    }

    /// The entry mapping `file` (relative to the root).
    pub fn entry(&self, file: &Path) -> Option<&Entry> {
        self.schemas.iter().find(|e| e.file == file)
    }

    /// The entry a path given on the command line (relative to the current directory)
    /// names, if it is mapped.
    pub fn entry_for_path(&self, path: &Path) -> Option<&Entry> {
        let cwd = std::env::current_dir().ok()?;
        let abs = |p: &Path| -> Option<PathBuf> {
            let joined = if p.is_absolute() {
                p.to_path_buf()
            } else {
                cwd.join(p)
            };
            std::fs::canonicalize(joined).ok()
        };
        let wanted = abs(path)?;
        self.schemas
            .iter()
            .find(|e| abs(&self.root.join(&e.file)).as_deref() == Some(wanted.as_path()))
    }

    /// The level an entry is checked at offline: its own, else the manifest's, else
    /// BACKWARD (Confluent's default).
    pub fn level_of(&self, entry: &Entry) -> CompatibilityLevel {
        entry
            .compatibility
            .or(self.compatibility)
            .unwrap_or(CompatibilityLevel::Backward)
    }

    /// Entries in registration order: every entry after the entries it references,
    /// otherwise in manifest order.
    pub fn push_order(&self) -> Vec<&Entry> {
        let mut done: HashSet<&Path> = HashSet::new();
        let mut out = Vec::with_capacity(self.schemas.len());
        for e in &self.schemas {
            self.visit(e, &mut done, &mut out);
        }
        out
    }

    fn visit<'a>(&'a self, e: &'a Entry, done: &mut HashSet<&'a Path>, out: &mut Vec<&'a Entry>) {
        if !done.insert(&e.file) {
            return;
        }
        for r in &e.references {
            if let Some(dep) = self.entry(&r.file) {
                self.visit(dep, done, out);
            }
        }
        out.push(e);
    }

    /// The direct references of `entry`: the name it uses and the referenced entry.
    pub fn references_of<'a>(&'a self, entry: &'a Entry) -> Vec<(&'a str, &'a Entry)> {
        entry
            .references
            .iter()
            .filter_map(|r| self.entry(&r.file).map(|e| (r.name.as_str(), e)))
            .collect()
    }

    /// The transitive closure of `entry`'s references as (name, entry), dependencies first,
    /// each (name, file) once.
    pub fn closure_of<'a>(&'a self, entry: &'a Entry) -> Vec<(&'a str, &'a Entry)> {
        fn walk<'a>(
            m: &'a Manifest,
            e: &'a Entry,
            seen: &mut HashSet<(&'a str, &'a Path)>,
            out: &mut Vec<(&'a str, &'a Entry)>,
            depth: usize,
        ) {
            if depth > m.schemas.len() {
                return;
            }
            for (name, dep) in m.references_of(e) {
                if seen.insert((name, dep.file.as_path())) {
                    walk(m, dep, seen, out, depth + 1);
                    out.push((name, dep));
                }
            }
        }
        let mut out = Vec::new();
        walk(self, entry, &mut HashSet::new(), &mut out, 0);
        out
    }

    /// Every file `entry` needs: its own and those of its transitive references.
    pub fn files_of<'a>(&'a self, entry: &'a Entry) -> Vec<&'a Path> {
        let mut files = vec![entry.file.as_path()];
        for (_, dep) in self.closure_of(entry) {
            if !files.contains(&dep.file.as_path()) {
                files.push(&dep.file);
            }
        }
        files
    }

    /// `entry`'s text and references through `read` (the working tree, or the texts
    /// [`read_at_rev`] read at a git revision), which returns a file's text by its
    /// manifest-relative path (`Ok(None)`: the file does not exist there). `Ok(None)` when
    /// the entry's own file does not exist; a missing reference is an error.
    pub fn load_with(
        &self,
        entry: &Entry,
        read: &mut dyn FnMut(&Path) -> Result<Option<String>, CliError>,
    ) -> Result<Option<LoadedSchema>, CliError> {
        let Some(text) = read(&entry.file)? else {
            return Ok(None);
        };
        let mut references = Vec::new();
        for (name, dep) in self.closure_of(entry) {
            let Some(schema) = read(&dep.file)? else {
                return Err(CliError::usage(format!(
                    "{}: referenced file {} does not exist",
                    display_path(&entry.file),
                    display_path(&dep.file)
                )));
            };
            references.push(Reference::new(name, schema));
        }
        Ok(Some(LoadedSchema { text, references }))
    }

    /// `entry` and its references from the working tree.
    pub fn load_schema(&self, entry: &Entry) -> Result<LoadedSchema, CliError> {
        let mut read = |file: &Path| self.read_worktree(file).map(Some);
        self.load_with(entry, &mut read)?.ok_or_else(|| {
            CliError::usage(format!("{}: does not exist", display_path(&entry.file)))
        })
    }

    /// A manifest-relative file from the working tree.
    pub fn read_worktree(&self, file: &Path) -> Result<String, CliError> {
        let path = self.root.join(file);
        std::fs::read_to_string(&path)
            .map_err(|e| CliError::usage(format!("{}: {e}", display_path(&path))))
    }

    /// A reference cycle as `a.avsc -> b.avsc -> a.avsc`, if there is one.
    fn find_cycle(&self) -> Option<String> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Active,
            Done,
        }
        fn dfs<'a>(
            m: &'a Manifest,
            i: usize,
            marks: &mut [Mark],
            stack: &mut Vec<&'a Path>,
            index: &HashMap<&'a Path, usize>,
        ) -> Option<String> {
            marks[i] = Mark::Active;
            stack.push(&m.schemas[i].file);
            for r in &m.schemas[i].references {
                let Some(&j) = index.get(r.file.as_path()) else {
                    continue;
                };
                match marks[j] {
                    Mark::Active => {
                        let start = stack.iter().position(|p| *p == r.file).unwrap_or(0);
                        let mut names: Vec<String> =
                            stack[start..].iter().map(|p| display_path(p)).collect();
                        names.push(display_path(&r.file));
                        return Some(names.join(" -> "));
                    }
                    Mark::New => {
                        if let Some(c) = dfs(m, j, marks, stack, index) {
                            return Some(c);
                        }
                    }
                    Mark::Done => {}
                }
            }
            stack.pop();
            marks[i] = Mark::Done;
            None
        }
        let index: HashMap<&Path, usize> = self
            .schemas
            .iter()
            .enumerate()
            .map(|(i, e)| (e.file.as_path(), i))
            .collect();
        let mut marks = vec![Mark::New; self.schemas.len()];
        for i in 0..self.schemas.len() {
            if marks[i] == Mark::New {
                if let Some(c) = dfs(self, i, &mut marks, &mut Vec::new(), &index) {
                    return Some(c);
                }
            }
        }
        None
    }
}

/// `path` relative to `base` when it is under it (for messages), else `path`.
fn relative_to(path: &Path, base: &Path) -> PathBuf {
    path.strip_prefix(base)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

/// git's first `fatal:`/`error:` line, without the prefix.
pub fn git_cause(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("fatal:") || l.starts_with("error:"))
        .or_else(|| stderr.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or("git failed");
    let line = line
        .strip_prefix("fatal: ")
        .or_else(|| line.strip_prefix("error: "))
        .unwrap_or(line);
    format!("git: {}", line.trim())
}

/// The texts of `files` (manifest-relative) at `rev`, with one `git cat-file --batch`;
/// a file absent at `rev` maps to `None`.
pub fn read_at_rev(
    root: &Path,
    rev: &str,
    files: &[&Path],
) -> Result<HashMap<PathBuf, Option<String>>, CliError> {
    let mut out = HashMap::with_capacity(files.len());
    if files.is_empty() {
        return Ok(out);
    }
    let mut child = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CliError::usage(format!("cannot run git: {e}")))?;
    let mut input = String::new();
    for f in files {
        input.push_str(&format!("{rev}:./{}\n", display_path(f)));
    }
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| CliError::usage("cannot run git cat-file"))?;
    // Written from a thread so a full stdout pipe cannot deadlock us.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let mut bytes = Vec::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout
            .read_to_end(&mut bytes)
            .map_err(|e| CliError::usage(format!("git cat-file: {e}")))?;
    }
    let _ = writer.join();
    let status = child
        .wait()
        .map_err(|e| CliError::usage(format!("git cat-file: {e}")))?;
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        return Err(CliError::usage(git_cause(&err)));
    }
    let mut pos = 0;
    for f in files {
        let Some(nl) = bytes[pos..].iter().position(|&b| b == b'\n') else {
            return Err(CliError::usage("git cat-file: truncated output"));
        };
        let header = String::from_utf8_lossy(&bytes[pos..pos + nl]).into_owned();
        pos += nl + 1;
        let parts: Vec<&str> = header.rsplitn(3, ' ').collect();
        // `<oid> <type> <size>`, or `<name> missing` / `<name> ambiguous`.
        let content = match parts.as_slice() {
            [size, ty, _oid] if size.parse::<usize>().is_ok() => {
                let size: usize = size.parse().unwrap_or(0);
                let end = pos + size;
                let body = bytes
                    .get(pos..end)
                    .ok_or_else(|| CliError::usage("git cat-file: truncated output"))?;
                pos = end + 1;
                (*ty == "blob").then(|| String::from_utf8_lossy(body).into_owned())
            }
            _ => None,
        };
        out.insert(f.to_path_buf(), content);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest, String> {
        Manifest::parse(text, PathBuf::from("."))
    }

    #[test]
    fn errors_name_the_key() {
        let e = parse("schemas:\n  - {file: a.avsc, subject: a}\n  - {file: b.avsc, subject: b, format: AVROO}\n")
            .unwrap_err();
        assert_eq!(
            e,
            "schemas[1].format: unknown format 'AVROO' (expected AVRO, PROTOBUF or JSON)"
        );
        let e = parse("schemas:\n  - {file: a.avsc, subject: a, colour: red}\n").unwrap_err();
        assert!(e.contains("schemas[0]") && e.contains("colour"), "{e}");
        let e =
            parse("schemas:\n  - {file: a.avsc, subject: a}\n  - {file: ./a.avsc, subject: b}\n")
                .unwrap_err();
        assert!(e.contains("already mapped by schemas[0]"), "{e}");
        let e = parse(
            "schemas:\n  - {file: a.avsc, subject: a, references: [{name: X, file: x.avsc}]}\n",
        )
        .unwrap_err();
        assert!(e.contains("not mapped"), "{e}");
    }

    #[test]
    fn cycles_are_rejected_and_order_puts_references_first() {
        let e = parse(
            "schemas:\n  - {file: a.avsc, subject: a, references: [{name: B, file: b.avsc}]}\n  - {file: b.avsc, subject: b, references: [{name: A, file: a.avsc}]}\n",
        )
        .unwrap_err();
        assert_eq!(e, "schemas: reference cycle: a.avsc -> b.avsc -> a.avsc");
        let m = parse(
            "schemas:\n  - {file: o.avsc, subject: o, references: [{name: L, file: l.avsc}, {name: A, file: a.avsc}]}\n  - {file: l.avsc, subject: l, references: [{name: A, file: a.avsc}]}\n  - {file: a.avsc, subject: a}\n  - {file: z.avsc, subject: z}\n",
        )
        .unwrap();
        let order: Vec<&str> = m.push_order().iter().map(|e| e.subject.as_str()).collect();
        assert_eq!(order, ["a", "l", "o", "z"]);
        let o = &m.schemas[0];
        let closure: Vec<&str> = m.closure_of(o).iter().map(|(n, _)| *n).collect();
        assert_eq!(closure, ["A", "L"]);
    }
}
