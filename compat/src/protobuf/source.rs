//! Turning schema text (and the texts of its references) into a checked descriptor pool.
//!
//! Everything that can reject input lives here: the brace-depth guard, the `.proto` compiler
//! (protox), the base64 `FileDescriptorProto` fallback, and the rewriting of compiler errors
//! into `line:column: what` messages.

use crate::{Reference, SchemaError, Warning};
use base64::Engine as _;
use prost::Message as _;
use prost_reflect::{DescriptorPool, FileDescriptor, Kind, MessageDescriptor};
use protox::file::{File, FileResolver, GoogleFileResolver};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// The file name the main schema is compiled under. Confluent's own files have no name the
/// user chose either; Python clients rename the file when they load `format=serialized`.
pub(crate) const MAIN_FILE: &str = "schema.proto";

/// Deeper `{` nesting than this is rejected before the compiler sees the text, so that no
/// recursive parser (the `.proto` parser or the text-format parser for option values) can be
/// driven into a stack overflow. protoc itself stops messages at 32 levels.
const MAX_BRACE_DEPTH: usize = 100;

/// Files Confluent's server knows without a reference, beyond `google/protobuf/*` (which
/// protox ships). Kept as `.proto` text so they compile exactly like user files.
const BUILTIN_FILES: &[(&str, &str)] = &[
    (
        "confluent/meta.proto",
        include_str!("wkt/confluent/meta.proto"),
    ),
    (
        "confluent/type/decimal.proto",
        include_str!("wkt/confluent/type/decimal.proto"),
    ),
    (
        "confluent/type/variant.proto",
        include_str!("wkt/confluent/type/variant.proto"),
    ),
    (
        "google/type/calendar_period.proto",
        include_str!("wkt/google/type/calendar_period.proto"),
    ),
    (
        "google/type/color.proto",
        include_str!("wkt/google/type/color.proto"),
    ),
    (
        "google/type/date.proto",
        include_str!("wkt/google/type/date.proto"),
    ),
    (
        "google/type/datetime.proto",
        include_str!("wkt/google/type/datetime.proto"),
    ),
    (
        "google/type/dayofweek.proto",
        include_str!("wkt/google/type/dayofweek.proto"),
    ),
    (
        "google/type/decimal.proto",
        include_str!("wkt/google/type/decimal.proto"),
    ),
    (
        "google/type/expr.proto",
        include_str!("wkt/google/type/expr.proto"),
    ),
    (
        "google/type/fraction.proto",
        include_str!("wkt/google/type/fraction.proto"),
    ),
    (
        "google/type/interval.proto",
        include_str!("wkt/google/type/interval.proto"),
    ),
    (
        "google/type/latlng.proto",
        include_str!("wkt/google/type/latlng.proto"),
    ),
    (
        "google/type/money.proto",
        include_str!("wkt/google/type/money.proto"),
    ),
    (
        "google/type/month.proto",
        include_str!("wkt/google/type/month.proto"),
    ),
    (
        "google/type/phone_number.proto",
        include_str!("wkt/google/type/phone_number.proto"),
    ),
    (
        "google/type/postal_address.proto",
        include_str!("wkt/google/type/postal_address.proto"),
    ),
    (
        "google/type/quaternion.proto",
        include_str!("wkt/google/type/quaternion.proto"),
    ),
    (
        "google/type/timeofday.proto",
        include_str!("wkt/google/type/timeofday.proto"),
    ),
];

/// True for import paths the registry resolves without a reference.
pub fn is_builtin(name: &str) -> bool {
    name.starts_with("google/protobuf/") || BUILTIN_FILES.iter().any(|(n, _)| *n == name)
}

/// The result of compiling a schema: the pool with every file it needs, the main file, and
/// the main file's source text when it was given as `.proto` text (used to print type names
/// as the author wrote them).
pub(crate) struct Compiled {
    pub pool: DescriptorPool,
    pub file: FileDescriptor,
    pub source: Option<String>,
    /// Identity of each non-main file (its name and text), used to decide whether two
    /// same-named referenced types need a recursive diff.
    pub ref_texts: HashMap<String, Arc<str>>,
    /// Imports Accord added to the text so that names resolve as Confluent resolves them
    /// (see [`compile`]); never printed or serialized.
    pub hidden_imports: HashSet<String>,
    /// What was accepted although protoc would refuse it (see [`compile`]).
    pub warnings: Vec<Warning>,
    /// The descriptor as it was given, for a schema given as base64 (names unresolved).
    pub raw_descriptor: Option<prost_types::FileDescriptorProto>,
}

/// How the main schema is presented to the compiler.
enum MainInput {
    Text(String),
    Descriptor(Vec<u8>),
}

struct Resolver {
    main: MainInput,
    refs: HashMap<String, String>,
    /// Imports that named no reference and no built-in file: compiled as empty files.
    stubbed: Arc<Mutex<Vec<String>>>,
}

impl FileResolver for Resolver {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == MAIN_FILE {
            return match &self.main {
                MainInput::Text(t) => File::from_source(name, t),
                MainInput::Descriptor(bytes) => decoded_file(name, bytes),
            };
        }
        if name.starts_with("google/protobuf/") {
            if let Ok(f) = GoogleFileResolver::new().open_file(name) {
                return Ok(f);
            }
        }
        if let Some((_, text)) = BUILTIN_FILES.iter().find(|(n, _)| *n == name) {
            return File::from_source(name, text);
        }
        match self.refs.get(name) {
            Some(text) => match File::from_source(name, text) {
                Ok(f) => Ok(f),
                // A reference may itself have been registered as a base64 descriptor.
                Err(text_err) => match decode_base64_descriptor(text) {
                    Some(bytes) => decoded_file(name, &bytes).map_err(|_| text_err),
                    None => Err(text_err),
                },
            },
            // Confluent does not check imports: an import without a reference is fine as
            // long as no type from it is used (its normalization resolves field types
            // only). An empty file stands in for it, so such a use still fails here.
            None => {
                if let Ok(mut list) = self.stubbed.lock() {
                    if !list.iter().any(|n| n == name) {
                        list.push(name.to_owned());
                    }
                }
                File::from_source(name, "")
            }
        }
    }
}

fn decoded_file(name: &str, bytes: &[u8]) -> Result<File, protox::Error> {
    // The pool is keyed by the import path, so the descriptor must carry that name; any
    // source info belongs to a text we do not have, so it is dropped.
    let renamed = rewrite_descriptor(bytes, Some(name));
    File::decode_file_descriptor_proto(renamed.as_slice()).map_err(protox::Error::new)
}

/// Compiles `text` with its references. Tries `.proto` text first and, if that fails and
/// the text looks like base64, a binary `FileDescriptorProto`; if both fail, the text error
/// is reported because that is what a person most likely sent.
///
/// Two things protoc refuses are accepted, as Confluent accepts them with its default
/// settings (its `ProtobufSchema.validate` only normalizes the text, which resolves the
/// types fields use; it builds no descriptor unless `schema.validate.fields` is set):
///
/// * an import that is neither a reference nor a built-in file compiles as an empty file
///   (warning `IMPORT_NOT_FOUND`); a type used from it still fails to resolve, as in
///   Confluent ("Could not resolve type");
/// * a type defined in a reference, or in a file Confluent knows without one, that the text
///   uses without importing its file: Confluent resolves names across every dependency,
///   so when the text does not compile as written it is compiled again with those files
///   imported (warning `TYPE_NOT_IMPORTED`); the added imports are never printed.
pub(crate) fn compile(text: &str, references: &[Reference]) -> Result<Compiled, SchemaError> {
    let mut refs = HashMap::with_capacity(references.len());
    for r in references {
        refs.insert(r.name.clone(), r.schema.clone());
    }
    for r in references {
        check_depth(&r.schema).map_err(|e| {
            SchemaError::new(format!("Invalid Protobuf reference '{}': {e}", r.name))
        })?;
    }
    check_depth(text).map_err(|e| SchemaError::new(format!("Invalid Protobuf schema: {e}")))?;

    let text_attempt = run_compiler(MainInput::Text(text.to_owned()), refs.clone());
    let text_err = match text_attempt {
        Ok(done) => return Ok(compiled(done, Some(text), references, HashSet::new())),
        Err(e) => e,
    };
    if text_err.contains("is not defined") && !text_err.contains("option field") {
        if let Some(done) = compile_with_implicit_imports(text, references, &refs) {
            return Ok(done);
        }
    }
    let text_err = match &text_err {
        e if e.contains("is not defined") => {
            let stubbed = stubbed_imports(text, &refs);
            if stubbed.is_empty() {
                e.clone()
            } else {
                format!("{e} (no reference was given for {})", stubbed.join(", "))
            }
        }
        e => e.clone(),
    };
    if let Some(bytes) = decode_base64_descriptor(text) {
        if let Ok(probe) = prost_types::FileDescriptorProto::decode(bytes.as_slice()) {
            // A binary descriptor is not checked by a parser: names that are not
            // identifiers would print as text that does not parse (found by fuzzing).
            // Without real content it is not evidence of base64: report the text error.
            if let Err(e) = check_descriptor_names(&probe) {
                if looks_meaningful(&probe) {
                    return Err(SchemaError::new(format!(
                        "Invalid Protobuf schema (base64 FileDescriptorProto): {e}"
                    )));
                }
                return Err(SchemaError::new(format!(
                    "Invalid Protobuf schema: {text_err}"
                )));
            }
            match run_compiler(MainInput::Descriptor(bytes), refs) {
                Ok(done) => {
                    let mut out = compiled(done, None, references, HashSet::new());
                    out.raw_descriptor = Some(probe);
                    return Ok(out);
                }
                // Random identifiers can decode as a near-empty descriptor; only a
                // descriptor with real content is evidence that base64 was meant.
                Err(e) if looks_meaningful(&probe) => {
                    return Err(SchemaError::new(format!(
                        "Invalid Protobuf schema (base64 FileDescriptorProto): {e}"
                    )))
                }
                Err(_) => {}
            }
        }
    }
    Err(SchemaError::new(format!(
        "Invalid Protobuf schema: {text_err}"
    )))
}

/// What one successful compiler run produced.
struct Done {
    pool: DescriptorPool,
    file: FileDescriptor,
    stubbed: Vec<String>,
}

fn compiled(
    done: Done,
    source: Option<&str>,
    references: &[Reference],
    hidden_imports: HashSet<String>,
) -> Compiled {
    let warnings = done
        .stubbed
        .iter()
        .map(|name| {
            Warning::new(
                "IMPORT_NOT_FOUND",
                name.clone(),
                format!(
                    "Import '{name}' names no reference and no file the registry knows; it is \
                     accepted as Confluent accepts it, but no type of it can be used"
                ),
            )
        })
        .collect();
    Compiled {
        pool: done.pool,
        file: done.file,
        source: source.map(str::to_owned),
        ref_texts: ref_texts(references),
        hidden_imports,
        warnings,
        raw_descriptor: None,
    }
}

/// The imports of `text` that name neither a reference nor a built-in file, in order
/// (found by a cheap scan of `import "..."` statements, for error messages only).
fn stubbed_imports(text: &str, refs: &HashMap<String, String>) -> Vec<String> {
    let re = regex::Regex::new(r#"\bimport\s+(?:public\s+|weak\s+)?["']([^"']+)["']"#);
    let Ok(re) = re else {
        return Vec::new();
    };
    re.captures_iter(text)
        .filter_map(|c| c.get(1).map(|m| m.as_str().to_owned()))
        .filter(|n| !refs.contains_key(n) && !is_builtin(n))
        .map(|n| format!("'{n}'"))
        .collect()
}

/// The second attempt of [`compile`]: `text` with an `import` of every reference and every
/// file Confluent knows that it does not import already. `None` if that fails too.
fn compile_with_implicit_imports(
    text: &str,
    references: &[Reference],
    refs: &HashMap<String, String>,
) -> Option<Compiled> {
    let probe = File::from_source(MAIN_FILE, text).ok()?;
    let imported: HashSet<&str> = probe
        .file_descriptor_proto()
        .dependency
        .iter()
        .map(String::as_str)
        .collect();
    let mut added: Vec<String> = references
        .iter()
        .map(|r| r.name.clone())
        .chain(
            super::serialize::known_dependencies()
                .iter()
                .map(|n| (*n).to_owned()),
        )
        .filter(|n| !imported.contains(n.as_str()))
        .collect();
    let mut seen = HashSet::new();
    added.retain(|n| seen.insert(n.clone()));
    if added.is_empty() {
        return None;
    }
    // Appended at the end, so that line and column numbers of the text stay valid.
    let mut with_imports = text.to_owned();
    with_imports.push('\n');
    for name in &added {
        with_imports.push_str(&format!("import \"{}\";\n", name.replace('"', "\\\"")));
    }
    let done = run_compiler(MainInput::Text(with_imports.clone()), refs.clone()).ok()?;
    let hidden: HashSet<String> = added.into_iter().collect();
    let mut warnings = Vec::new();
    for m in done.file.messages() {
        implicit_uses(&m, &hidden, &mut warnings);
    }
    let mut out = compiled(done, Some(&with_imports), references, hidden);
    out.warnings.extend(warnings);
    Some(out)
}

/// A `TYPE_NOT_IMPORTED` warning for every field of `m` (nested messages included) whose
/// type comes from a file in `hidden`.
fn implicit_uses(m: &MessageDescriptor, hidden: &HashSet<String>, out: &mut Vec<Warning>) {
    for f in m.fields() {
        let ty = match f.kind() {
            Kind::Message(t) if f.is_map() => match t.map_entry_value_field().kind() {
                Kind::Message(v) => Some((v.full_name().to_owned(), v.parent_file())),
                Kind::Enum(v) => Some((v.full_name().to_owned(), v.parent_file())),
                _ => None,
            },
            Kind::Message(t) => Some((t.full_name().to_owned(), t.parent_file())),
            Kind::Enum(t) => Some((t.full_name().to_owned(), t.parent_file())),
            _ => None,
        };
        if let Some((name, file)) = ty {
            if hidden.contains(file.name()) {
                out.push(Warning::new(
                    "TYPE_NOT_IMPORTED",
                    f.full_name().to_owned(),
                    format!(
                        "Field '{}' uses '{name}' from '{}', which the schema does not import; \
                         Confluent resolves it anyway, protoc would not",
                        f.full_name(),
                        file.name()
                    ),
                ));
            }
        }
    }
    for c in m.child_messages() {
        if !c.is_map_entry() {
            implicit_uses(&c, hidden, out);
        }
    }
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_dotted(s: &str) -> bool {
    s.strip_prefix('.').unwrap_or(s).split('.').all(is_ident)
}

/// Every name in a decoded descriptor is an identifier (type names dotted ones).
fn check_descriptor_names(fd: &prost_types::FileDescriptorProto) -> Result<(), String> {
    fn name_ok(kind: &str, name: &str, dotted: bool) -> Result<(), String> {
        let ok = if dotted {
            is_dotted(name)
        } else {
            is_ident(name)
        };
        if ok {
            Ok(())
        } else {
            Err(format!("{kind} name {name:?} is not a valid identifier"))
        }
    }
    fn message(m: &prost_types::DescriptorProto, depth: usize) -> Result<(), String> {
        if depth > 100 {
            return Err("messages nest deeper than 100 levels".to_string());
        }
        name_ok("message", m.name(), false)?;
        for f in m.field.iter().chain(m.extension.iter()) {
            name_ok("field", f.name(), false)?;
            if !f.type_name().is_empty() {
                name_ok("field type", f.type_name(), true)?;
            }
            if !f.extendee().is_empty() {
                name_ok("extendee", f.extendee(), true)?;
            }
        }
        for o in &m.oneof_decl {
            name_ok("oneof", o.name(), false)?;
        }
        for e in &m.enum_type {
            enumeration(e)?;
        }
        for n in &m.nested_type {
            message(n, depth + 1)?;
        }
        Ok(())
    }
    fn enumeration(e: &prost_types::EnumDescriptorProto) -> Result<(), String> {
        name_ok("enum", e.name(), false)?;
        for v in &e.value {
            name_ok("enum value", v.name(), false)?;
        }
        Ok(())
    }
    if !fd.package().is_empty() {
        name_ok("package", fd.package(), true)?;
    }
    for m in &fd.message_type {
        message(m, 0)?;
    }
    for e in &fd.enum_type {
        enumeration(e)?;
    }
    for f in &fd.extension {
        name_ok("extension", f.name(), false)?;
    }
    for s in &fd.service {
        name_ok("service", s.name(), false)?;
        for m in &s.method {
            name_ok("method", m.name(), false)?;
            name_ok("input type", m.input_type(), true)?;
            name_ok("output type", m.output_type(), true)?;
        }
    }
    Ok(())
}

fn looks_meaningful(fd: &prost_types::FileDescriptorProto) -> bool {
    !fd.message_type.is_empty()
        || !fd.enum_type.is_empty()
        || !fd.service.is_empty()
        || !fd.dependency.is_empty()
}

fn ref_texts(references: &[Reference]) -> HashMap<String, Arc<str>> {
    references
        .iter()
        .map(|r| (r.name.clone(), Arc::from(r.schema.as_str())))
        .collect()
}

fn run_compiler(main: MainInput, refs: HashMap<String, String>) -> Result<Done, String> {
    let stubbed = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&stubbed);
    // protox and prost-reflect validate their input and return errors, but they are large
    // third-party code fed with untrusted bytes; a panic there must not take the caller down.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let mut compiler = protox::Compiler::with_file_resolver(Resolver {
            main,
            refs,
            stubbed: seen,
        });
        compiler.include_source_info(true);
        match compiler.open_file(MAIN_FILE) {
            Ok(c) => {
                let pool = c.descriptor_pool();
                match pool.get_file_by_name(MAIN_FILE) {
                    Some(file) => Ok((pool, file)),
                    None => Err("the schema file was not compiled".to_owned()),
                }
            }
            Err(e) => Err(describe_error(&e)),
        }
    }));
    let stubbed = stubbed.lock().map(|l| l.clone()).unwrap_or_default();
    match outcome {
        Ok(Ok((pool, file))) => Ok(Done {
            pool,
            file,
            stubbed,
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("the descriptor could not be processed".to_owned()),
    }
}

/// `schema.proto:4:1: expected ';'` becomes `4:1: expected ';'`; errors in a reference keep
/// the reference's name so the user knows which text to fix.
fn describe_error(e: &protox::Error) -> String {
    let debug = format!("{e:?}");
    let main_prefix = format!("{MAIN_FILE}:");
    match debug.strip_prefix(&main_prefix) {
        Some(rest) => rest.trim_start().to_owned(),
        None => match e.file() {
            Some(f) if debug.starts_with(f) => format!("in reference {debug}"),
            _ => debug,
        },
    }
}

/// Standard-alphabet base64 (padding optional) of at least one byte, or `None`. Anything
/// with characters outside the alphabet is not tried, so ordinary `.proto` typos never get
/// reinterpreted as binary.
pub(crate) fn decode_base64_descriptor(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
    {
        return None;
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(t).ok().filter(|b| !b.is_empty())
}

/// Rewrites an encoded `FileDescriptorProto` at the wire level: drops `source_code_info`
/// (field 9) and, when `name` is given, replaces the file name (field 1). Working on the wire
/// format keeps extension options (custom options), which prost-types would lose. Malformed
/// input is returned as it was, for the decoder to reject.
pub(crate) fn rewrite_descriptor(bytes: &[u8], name: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 32);
    if let Some(n) = name {
        prost::encoding::string::encode(1, &n.to_owned(), &mut out);
    }
    let mut rest = bytes;
    while !rest.is_empty() {
        let Some((field, len)) = wire_field_len(rest) else {
            return bytes.to_vec();
        };
        let Some((chunk, tail)) = rest.split_at_checked(len) else {
            return bytes.to_vec();
        };
        let drop = field == 9 || (field == 1 && name.is_some());
        if !drop {
            out.extend_from_slice(chunk);
        }
        rest = tail;
    }
    out
}

/// The field number and the total length (key included) of the wire field at the start of
/// `buf`, or `None` if it is malformed.
fn wire_field_len(buf: &[u8]) -> Option<(u64, usize)> {
    let (key, key_len) = read_varint(buf)?;
    let field = key >> 3;
    let body = buf.get(key_len..)?;
    let body_len = match key & 7 {
        0 => read_varint(body)?.1,
        1 => 8,
        2 => {
            let (n, l) = read_varint(body)?;
            l.checked_add(usize::try_from(n).ok()?)?
        }
        5 => 4,
        _ => return None,
    };
    let total = key_len.checked_add(body_len)?;
    if total > buf.len() {
        return None;
    }
    Some((field, total))
}

fn read_varint(buf: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, b) in buf.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Rejects text whose `{` nesting (outside strings and comments) exceeds
/// [`MAX_BRACE_DEPTH`], naming the line and column where the limit was crossed.
fn check_depth(text: &str) -> Result<(), String> {
    let bytes = text.as_bytes();
    let (mut depth, mut line, mut col) = (0usize, 1usize, 1usize);
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\n' => {
                line += 1;
                col = 0;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while bytes.get(i).is_some_and(|&c| c != b'\n') {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while let Some(&c) = bytes.get(i) {
                    if c == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        break;
                    }
                    if c == b'\n' {
                        line += 1;
                        col = 0;
                    }
                    i += 1;
                    col += 1;
                }
                i += 2;
                col += 2;
                continue;
            }
            b'"' | b'\'' => {
                let quote = b;
                i += 1;
                col += 1;
                while let Some(&c) = bytes.get(i) {
                    if c == b'\\' {
                        i += 2;
                        col += 2;
                        continue;
                    }
                    if c == quote || c == b'\n' {
                        break;
                    }
                    i += 1;
                    col += 1;
                }
            }
            b'{' | b'<' | b'[' => {
                depth += 1;
                if depth > MAX_BRACE_DEPTH {
                    return Err(format!(
                        "{line}:{col}: nesting deeper than {MAX_BRACE_DEPTH} levels"
                    ));
                }
            }
            b'}' | b'>' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
        col += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_guard_names_the_place() {
        let deep = format!("message A {{ option (x) = {}", "{ a ".repeat(200));
        let err = check_depth(&deep).unwrap_err();
        assert!(err.starts_with("1:"), "{err}");
        assert!(err.contains("nesting deeper than 100"), "{err}");
        assert!(check_depth("message A { string s = 1 [default = \"{{{{\"]; }").is_ok());
    }

    #[test]
    fn base64_detection() {
        assert!(decode_base64_descriptor("message A {}").is_none());
        assert!(decode_base64_descriptor("CgNhLnByb3Rv").is_some());
        assert!(decode_base64_descriptor("").is_none());
    }

    #[test]
    fn rewrite_replaces_name_and_drops_source_info() {
        let fd = prost_types::FileDescriptorProto {
            name: Some("old.proto".into()),
            package: Some("p".into()),
            source_code_info: Some(Default::default()),
            ..Default::default()
        };
        let bytes = fd.encode_to_vec();
        let out = rewrite_descriptor(&bytes, Some("new.proto"));
        let back = prost_types::FileDescriptorProto::decode(out.as_slice()).unwrap();
        assert_eq!(back.name(), "new.proto");
        assert_eq!(back.package(), "p");
        assert!(back.source_code_info.is_none());
        // Malformed input is passed through untouched.
        assert_eq!(rewrite_descriptor(&[0x0a, 0x05], None), vec![0x0a, 0x05]);
    }
}
