//! Protobuf: parse, canonical text, normalisation and reader/writer compatibility, as
//! Confluent Schema Registry's `protobuf-provider` does them.
//!
//! **Parsing.** The text is compiled with `protox` (a pure-Rust protoc) through an in-memory
//! resolver: the schema itself is the file `schema.proto`, each reference is a file named by
//! its import path, and the files Confluent knows without references are built in
//! (`google/protobuf/*.proto` from protox, `google/type/*.proto`, `confluent/meta.proto` and
//! `confluent/type/{decimal,variant}.proto` bundled as text under `wkt/`). When the text does
//! not compile and looks like base64, it is read as a binary `FileDescriptorProto` (the form
//! the Python client registers); if that fails too, the *text* error is reported, as
//! `line:column: what`, because a person most likely sent text.
//!
//! Confluent's default registration parses with Wire's `ProtoParser` and validates by
//! normalizing the text, which resolves the types fields use; it builds a descriptor only
//! when `schema.validate.fields` is set. Two refusals of protoc are therefore relaxed into
//! warnings ([`ProtobufSchema::warnings`]): an import that names no reference and no built-in
//! file (`IMPORT_NOT_FOUND`; it compiles as an empty file, so using a type from it still
//! fails), and a type used from a reference or built-in file the text does not import
//! (`TYPE_NOT_IMPORTED`; compiled again with those imports added, which are never printed,
//! serialized or listed). Everything else protoc checks on a descriptor (duplicate field
//! numbers, proto3 enums not starting at zero, proto3 defaults, unknown options, ...) is
//! still refused, although Confluent's default settings accept it: protox cannot build a
//! descriptor for such a schema.
//!
//! **Canonical text.** Confluent stores and returns its own printout of the schema, not the
//! submitted bytes; [`ProtobufSchema::canonical`] reproduces that printer's layout (see
//! `print.rs`). Type names are kept as written when the input was text (Confluent prints what
//! its parser read) and fully qualified when it was a descriptor. Comments are dropped from
//! the text; [`ProtobufSchema::declarations`] reads them (and every declaration's name).
//! [`ProtobufSchema::normalized`] additionally sorts fields by tag, options by name, imports,
//! reserved ranges, extension ranges and enum values, orders oneofs by their first tag,
//! fully qualifies every type name (as Confluent's normalizer does) and always states the
//! syntax; messages and enums keep their order because message indexes in the wire format
//! depend on it.
//!
//! **Compatibility.** [`backward`] is `SchemaDiff.compare(original = old, update = new)`
//! reduced to the difference types that are incompatible (all but `SchemaDiff`'s
//! `COMPATIBLE_CHANGES`): `PACKAGE_CHANGED`, `MESSAGE_REMOVED`, `FIELD_KIND_CHANGED`,
//! `FIELD_SCALAR_KIND_CHANGED`, `FIELD_NAMED_TYPE_CHANGED`, `FIELD_NUMERIC_LABEL_CHANGED`,
//! `REQUIRED_FIELD_ADDED`, `REQUIRED_FIELD_REMOVED`, `ONEOF_FIELD_REMOVED`,
//! `MULTIPLE_FIELDS_MOVED_TO_ONEOF` and `FIELD_MOVED_TO_EXISTING_ONEOF` (the compatible ones,
//! such as `FIELD_ADDED`, `ONEOF_ADDED`/`ONEOF_REMOVED` or `ENUM_CONST_REMOVED`, produce
//! nothing). Messages are matched by name per nesting level, oneofs by name, fields by tag
//! across the whole message (so a field is compared wherever it moved); same-named message
//! types that come from different reference texts are diffed recursively. Oneofs follow
//! Confluent's `MessageSchemaDiff`: the members a new oneof takes over from the old schema
//! must come from one "group" (one old oneof, or one old field outside any oneof), else
//! `MULTIPLE_FIELDS_MOVED_TO_ONEOF` when two or more were outside any oneof and
//! `FIELD_MOVED_TO_EXISTING_ONEOF` otherwise (merging oneofs, moving a member into another
//! oneof); deleting a member of a oneof that keeps its name is `ONEOF_FIELD_REMOVED`.
//!
//! Every finding carries Confluent's verbose message ([`crate::Incompatibility::confluent`]):
//! its `Difference` string `{errorType:"KIND", description:"..."}` with Confluent's path
//! (`#/Msg/Nested/3`, `#/Msg/oneof/3` for a member compared inside a same-named oneof,
//! `#/Msg/oneof` for the oneof rules, `#/` for the package; referenced types at their name
//! below their package), worded as Confluent words a backward check (reader "new", writer
//! "old"); [`confluent_for_direction`] gives the forward wording.
//!
//! **`format=serialized`** ([`ProtobufSchema::serialized`]) is the descriptor Confluent
//! builds from the schema, byte for byte (see `serialize.rs`), not protoc's.
//!
//! **Known differences from Confluent**, all because we print from descriptors while
//! Confluent prints what its parser kept: option order within one declaration follows the
//! option's field number, not the source; multi-statement `reserved` lists are merged into
//! one statement per kind (numbers, names); `extensions` ranges are merged likewise; enum
//! `reserved` statements and nested `extend` blocks are printed (Confluent drops them, so its
//! text does not re-parse to the same descriptor); proto2 groups are printed inline and
//! compared like message fields (Confluent's diff ignores them); a field's `json_name` is
//! printed only when it differs from the default. Differences inside one referenced type are
//! reported once, not once per field that uses it. In `format=serialized`, a
//! `confluent.*_meta` option's `params` are written sorted by key (Confluent keeps the
//! order of the option text, which the compiled descriptor does not record), and a proto2
//! `bytes` default with escapes is written as protoc stores it.

mod diff;
mod model;
mod outline;
mod print;
mod serialize;
mod source;

use crate::{Budget, Direction, Incompatibility, Reference, SchemaError, TooComplex};
use base64::Engine as _;
use prost_reflect::{DescriptorPool, FileDescriptor};
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

pub use outline::{Declaration, DeclarationKind};
pub use source::is_builtin;

/// A parsed Protobuf schema: the compiled descriptors, the texts Confluent would store, and
/// the flattened view the compatibility check walks. Cloning is cheap (shared).
#[derive(Clone)]
pub struct ProtobufSchema {
    inner: Arc<Inner>,
}

struct Inner {
    pool: DescriptorPool,
    file: FileDescriptor,
    canonical: String,
    normalized: String,
    model: model::Model,
    /// What Accord's stricter checks found (see [`crate::Warning`]).
    warnings: Vec<crate::Warning>,
    /// The schema text (`None` for a base64 descriptor): `format=serialized` keeps type
    /// names as written.
    source: Option<String>,
    /// The names of the references the schema was parsed with.
    references: HashSet<String>,
    /// Imports added during parsing that the author did not write.
    hidden_imports: HashSet<String>,
    /// A base64 schema's descriptor as given (type names unresolved).
    raw_descriptor: Option<prost_types::FileDescriptorProto>,
}

impl fmt::Debug for ProtobufSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtobufSchema")
            .field("package", &self.inner.file.package_name())
            .field("messages", &self.message_names())
            .finish_non_exhaustive()
    }
}

/// Parses a `.proto` text (or base64 of a binary `FileDescriptorProto`) with the transitive
/// closure of its references, each named by the import path the schema uses.
pub fn parse(text: &str, references: &[Reference]) -> Result<ProtobufSchema, SchemaError> {
    let compiled = source::compile(text, references)?;
    // Printing decodes option messages through prost-reflect; that code asserts on bytes it
    // has already validated, but input reached it, so a failure there is an input error.
    let printed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let source = compiled.source.as_deref();
        let hidden = &compiled.hidden_imports;
        let canonical = print::Printer::new(&compiled.file, source, false)
            .hiding(hidden)
            .print();
        let normalized = print::Printer::new(&compiled.file, source, true)
            .hiding(hidden)
            .print();
        let model = model::Model::build(&compiled.file, &compiled.ref_texts);
        (canonical, normalized, model)
    }));
    let (canonical, normalized, model) = printed.map_err(|_| {
        SchemaError::new("Invalid Protobuf schema: the descriptor could not be read")
    })?;
    Ok(ProtobufSchema {
        inner: Arc::new(Inner {
            pool: compiled.pool,
            file: compiled.file,
            canonical,
            normalized,
            model,
            warnings: compiled.warnings,
            source: compiled.source,
            references: references.iter().map(|r| r.name.clone()).collect(),
            hidden_imports: compiled.hidden_imports,
            raw_descriptor: compiled.raw_descriptor,
        }),
    })
}

impl ProtobufSchema {
    /// What Accord's stricter checks found (see [`crate::Warning`]).
    pub fn warnings(&self) -> &[crate::Warning] {
        &self.inner.warnings
    }

    /// The `.proto` text the registry stores and returns (Confluent's printer layout).
    pub fn canonical(&self) -> String {
        self.inner.canonical.clone()
    }

    /// The `normalize=true` text: see the module docs for what is sorted.
    pub fn normalized(&self) -> String {
        self.inner.normalized.clone()
    }

    /// Confluent's `format=serialized`: standard, padded base64 of the binary
    /// `FileDescriptorProto` Confluent builds from the schema, byte for byte as Confluent
    /// returns it (file named `default`, type names as written, only the options
    /// Confluent's builders copy; see `serialize.rs`). This is what the Python client
    /// fetches for writer schemas and references.
    pub fn serialized(&self) -> String {
        let printed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            serialize::serialize(&serialize::Input {
                file: &self.inner.file,
                source: self.inner.source.as_deref(),
                references: &self.inner.references,
                hidden_imports: &self.inner.hidden_imports,
                raw_descriptor: self.inner.raw_descriptor.as_ref(),
            })
        }));
        // Decoding option messages can only fail on bytes the parser accepted; fall back
        // to the compiled descriptor rather than unwinding into the caller.
        let bytes = printed.unwrap_or_else(|_| {
            source::rewrite_descriptor(&self.inner.file.encode_to_vec(), Some("default"))
        });
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Full names of the top-level messages, in declaration order (the order message
    /// indexes in the wire format refer to).
    pub fn message_names(&self) -> Vec<String> {
        self.inner
            .file
            .messages()
            .map(|m| m.full_name().to_owned())
            .collect()
    }

    /// The full name of the first top-level message: the record type when a subject's
    /// schema is used without an explicit message name.
    pub fn first_message_full_name(&self) -> Option<String> {
        self.inner
            .file
            .messages()
            .next()
            .map(|m| m.full_name().to_owned())
    }

    /// The package, or `""`.
    pub fn package(&self) -> &str {
        self.inner.file.package_name()
    }

    /// The compiled main file; its pool also holds every imported file.
    pub fn file_descriptor(&self) -> &FileDescriptor {
        &self.inner.file
    }

    /// All compiled files (the schema, its references and the well-known files it imports),
    /// for serializers that need message descriptors.
    pub fn descriptor_pool(&self) -> &DescriptorPool {
        &self.inner.pool
    }

    /// Every message, enum, oneof and field the schema declares, with its comments and
    /// `confluent.*_meta` doc and tags, in declaration order (see `outline.rs`). Built on
    /// each call from the compiled descriptor.
    pub fn declarations(&self) -> Vec<Declaration> {
        outline::outline(&self.inner.file)
    }

    /// The import paths the schema declares, in order.
    pub fn dependencies(&self) -> Vec<String> {
        self.inner
            .file
            .file_descriptor_proto()
            .dependency
            .iter()
            .filter(|d| !self.inner.hidden_imports.contains(*d))
            .cloned()
            .collect()
    }
}

/// Confluent's message for a finding in `direction`, from the message this module sets on
/// the finding ([`crate::Incompatibility::confluent`]).
///
/// Confluent words a protobuf `Difference` with two roles, reader and writer
/// (`SchemaValidatorBuilder.formatErrorMessages` fills the `%s` of the description with
/// `"new", "old"` for a backward check and `"old", "new"` for a forward one). The check
/// here is always run as a backward check of the pair it is given (a forward check runs
/// it with the schemas swapped) and is not told which, so it words every finding the
/// backward way; for [`Direction::Forward`] this rewords it. Any other text comes back
/// unchanged.
pub fn confluent_for_direction(message: &str, direction: Direction) -> String {
    if direction == Direction::Backward {
        return message.to_owned();
    }
    let parsed = message
        .strip_prefix("{errorType:\"")
        .and_then(|rest| rest.split_once('"'))
        .and_then(|(kind, rest)| {
            let (_, after) = rest.split_once('\'')?;
            let (path, _) = after.split_once('\'')?;
            Some((kind, path))
        });
    match parsed {
        Some((kind, path)) if diff::confluent(kind, path) == message => {
            diff::confluent_worded(kind, path, "old", "new")
        }
        _ => message.to_owned(),
    }
}

/// Can a reader using `new` read data written with `old`? Every incompatible difference is
/// reported; see the module docs for the rules and the paths.
/// Within [`Budget::default`]; a comparison that exceeds it reports the single
/// incompatibility `SCHEMA_TOO_COMPLEX`.
pub fn backward(old: &ProtobufSchema, new: &ProtobufSchema) -> Vec<Incompatibility> {
    backward_within(old, new, &mut Budget::default()).unwrap_or_else(|e| vec![e.incompatibility()])
}

/// [`backward`] charging `budget`; `Err` when it runs out before the comparison ends.
pub fn backward_within(
    old: &ProtobufSchema,
    new: &ProtobufSchema,
    budget: &mut Budget,
) -> Result<Vec<Incompatibility>, TooComplex> {
    if Arc::ptr_eq(&old.inner, &new.inner) {
        return Ok(Vec::new());
    }
    diff::backward(&old.inner.model, &new.inner.model, budget)
}

#[cfg(test)]
mod tests;
