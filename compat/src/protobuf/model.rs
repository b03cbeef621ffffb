//! The slice of a compiled schema the compatibility diff needs, flattened once at parse time
//! so that every check is a merge over small, contiguous vectors.
//!
//! Only the messages the main file defines, plus the referenced messages reachable from its
//! fields, are kept. Enums need no entry: every enum change is compatible, and a field of
//! enum type only needs to know that it is one.
//!
//! A FULL_TRANSITIVE check walks a hundred versions of a schema, which do not fit in the CPU
//! caches together; so the per-field record the diff touches is kept small (no strings), and
//! names are compared through 64-bit hashes computed here. Everything only needed to word a
//! report (field names, type names) sits in side tables.

use super::source::MAIN_FILE;
use prost_reflect::{
    Cardinality, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor, Syntax,
};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Confluent's label view: `None` when the text has no label (proto3 implicit presence,
/// oneof members, map fields), which disables label checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Label {
    None,
    Optional,
    Required,
    Repeated,
}

/// The interchangeable scalar groups of Confluent's `FieldSchemaDiff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScalarGroup {
    GeneralNumber,
    SignedNumber,
    StringOrBytes,
    Fixed32,
    Fixed64,
    Float,
    Double,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TyKind {
    Scalar,
    Message,
    Map,
}

/// A field or map key/value type, as the diff compares it. Plain data, no pointers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TyView {
    pub kind: TyKind,
    /// The scalar group (enums are `GeneralNumber`), `None` for messages and maps.
    pub group: Option<ScalarGroup>,
    /// Message types: hash of the full name without the package (what Confluent compares).
    pub local: u64,
    /// Message types: 0 when defined in the main file, else a hash of the defining file's
    /// name and text (two same-named types from identical files need no recursive diff).
    pub origin: u64,
    /// Index into [`Model::types`]: the full type, for maps and for reports.
    pub ty: u32,
}

/// The full type of a field, used for maps, recursion and messages to people.
#[derive(Debug, Clone)]
pub(crate) enum Ty {
    Scalar(&'static str),
    Enum(String),
    /// A message type: its full name and its index in [`Model::msgs`] (resolved once the
    /// whole model is built; `usize::MAX` if the type is outside the model).
    Message(String, usize),
    /// Map key and value, as views.
    Map(TyView, TyView),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub number: u32,
    pub label: Label,
    /// Index into [`Msg::oneofs`] for members of a real (non-synthetic) oneof.
    pub oneof: Option<u16>,
    pub view: TyView,
}

#[derive(Debug, Clone)]
pub(crate) struct Msg {
    pub full_name: String,
    /// The name below the defining file's package, `/`-separated (`Order/Line`): the start
    /// of Confluent's `#/...` paths for differences inside this message.
    pub local: String,
    pub name_hash: u64,
    /// All fields (oneof members included), sorted by number, so that two versions of a
    /// message are compared by one merge instead of hash lookups.
    pub fields: Vec<Field>,
    /// `fields[i]`'s name is `field_names[i]`.
    pub field_names: Vec<String>,
    pub oneofs: Vec<String>,
    pub oneof_hashes: Vec<u64>,
    /// Nested message types (map entries excluded), by index into [`Model::msgs`].
    pub nested: Vec<usize>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Model {
    pub package: String,
    /// Top-level messages of the main file, in declaration order.
    pub top: Vec<usize>,
    pub msgs: Vec<Msg>,
    pub types: Vec<Ty>,
    by_name: HashMap<String, usize>,
}

pub(crate) fn hash_str(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

impl Model {
    pub fn build(file: &FileDescriptor, ref_texts: &HashMap<String, Arc<str>>) -> Model {
        let mut b = Builder {
            model: Model {
                package: file.package_name().to_owned(),
                ..Model::default()
            },
            pending: Vec::new(),
            ref_texts,
            origins: HashMap::new(),
        };
        for m in file.messages() {
            if let Some(i) = b.add(&m) {
                b.model.top.push(i);
            }
        }
        // Referenced types are pulled in on demand from a work list, so the walk needs no
        // recursion whatever the shape of the reference graph.
        while let Some(m) = b.pending.pop() {
            b.add(&m);
        }
        let mut model = b.model;
        let by_name = std::mem::take(&mut model.by_name);
        for ty in &mut model.types {
            if let Ty::Message(name, idx) = ty {
                *idx = by_name.get(name.as_str()).copied().unwrap_or(usize::MAX);
            }
        }
        model.by_name = by_name;
        model
    }

    pub fn msg(&self, i: usize) -> Option<&Msg> {
        self.msgs.get(i)
    }

    pub fn ty(&self, v: &TyView) -> Option<&Ty> {
        self.types.get(usize::try_from(v.ty).ok()?)
    }

    /// The message a message-typed view refers to.
    pub fn msg_of(&self, v: &TyView) -> Option<(usize, &Msg)> {
        match self.ty(v)? {
            Ty::Message(_, idx) => self.msgs.get(*idx).map(|m| (*idx, m)),
            _ => None,
        }
    }

    /// How a type reads for people.
    pub fn describe(&self, v: &TyView) -> String {
        match self.ty(v) {
            Some(Ty::Scalar(s)) => (*s).to_owned(),
            Some(Ty::Enum(n)) => format!("enum {n}"),
            Some(Ty::Message(n, _)) => n.clone(),
            Some(Ty::Map(k, val)) => format!("map<{}, {}>", self.describe(k), self.describe(val)),
            None => "?".to_owned(),
        }
    }
}

struct Builder<'a> {
    model: Model,
    pending: Vec<MessageDescriptor>,
    ref_texts: &'a HashMap<String, Arc<str>>,
    /// Origin hash per file name.
    origins: HashMap<String, u64>,
}

impl Builder<'_> {
    /// Adds `m` and its nested messages; returns its index (or `None` for map entries).
    fn add(&mut self, m: &MessageDescriptor) -> Option<usize> {
        if m.is_map_entry() {
            return None;
        }
        if let Some(&i) = self.model.by_name.get(m.full_name()) {
            return Some(i);
        }
        let idx = self.model.msgs.len();
        let full = m.full_name().to_owned();
        self.model.by_name.insert(full.clone(), idx);
        let local = local_name(m.full_name(), m.package_name()).replace('.', "/");
        self.model.msgs.push(Msg {
            full_name: full,
            local,
            name_hash: hash_str(m.name()),
            fields: Vec::new(),
            field_names: Vec::new(),
            oneofs: Vec::new(),
            oneof_hashes: Vec::new(),
            nested: Vec::new(),
        });

        let proto3 = m.parent_file().syntax() == Syntax::Proto3;
        let mut oneofs: Vec<String> = Vec::new();
        for o in m.oneofs() {
            if !o.is_synthetic() {
                oneofs.push(o.name().to_owned());
            }
        }
        let mut fields: Vec<(Field, String)> = Vec::with_capacity(m.descriptor_proto().field.len());
        for raw in &m.descriptor_proto().field {
            let Some(f) = u32::try_from(raw.number())
                .ok()
                .and_then(|n| m.get_field(n))
            else {
                continue;
            };
            let oneof = f
                .containing_oneof()
                .filter(|o| !o.is_synthetic())
                .and_then(|o| oneofs.iter().position(|x| x == o.name()))
                .and_then(|i| u16::try_from(i).ok());
            let label = if oneof.is_some() || f.is_map() {
                Label::None
            } else if proto3 {
                if raw.proto3_optional() {
                    Label::Optional
                } else if f.cardinality() == Cardinality::Repeated {
                    Label::Repeated
                } else {
                    Label::None
                }
            } else {
                match f.cardinality() {
                    Cardinality::Optional => Label::Optional,
                    Cardinality::Required => Label::Required,
                    Cardinality::Repeated => Label::Repeated,
                }
            };
            let view = self.field_view(&f);
            fields.push((
                Field {
                    number: f.number(),
                    label,
                    oneof,
                    view,
                },
                f.name().to_owned(),
            ));
        }
        fields.sort_by_key(|(f, _)| f.number);
        let (fields, field_names): (Vec<Field>, Vec<String>) = fields.into_iter().unzip();
        let mut nested = Vec::new();
        for child in m.child_messages() {
            if let Some(i) = self.add(&child) {
                nested.push(i);
            }
        }
        if let Some(msg) = self.model.msgs.get_mut(idx) {
            msg.fields = fields;
            msg.field_names = field_names;
            msg.oneof_hashes = oneofs.iter().map(|o| hash_str(o)).collect();
            msg.oneofs = oneofs;
            msg.nested = nested;
        }
        Some(idx)
    }

    fn origin(&mut self, file: &FileDescriptor) -> u64 {
        if file.name() == MAIN_FILE {
            return 0;
        }
        if let Some(&h) = self.origins.get(file.name()) {
            return h;
        }
        let mut h = DefaultHasher::new();
        file.name().hash(&mut h);
        self.ref_texts
            .get(file.name())
            .map(|t| t.as_ref())
            .unwrap_or("")
            .hash(&mut h);
        let h = h.finish().max(1);
        self.origins.insert(file.name().to_owned(), h);
        h
    }

    fn field_view(&mut self, f: &FieldDescriptor) -> TyView {
        if f.is_map() {
            if let Kind::Message(entry) = f.kind() {
                let key = self.kind_view(entry.map_entry_key_field().kind());
                let value = self.kind_view(entry.map_entry_value_field().kind());
                return self.push(Ty::Map(key, value), TyKind::Map, None, 0, 0);
            }
        }
        self.kind_view(f.kind())
    }

    fn kind_view(&mut self, k: Kind) -> TyView {
        match k {
            Kind::Message(m) => {
                if !self.model.by_name.contains_key(m.full_name()) {
                    self.pending.push(m.clone());
                }
                let local = hash_str(&local_name(m.full_name(), m.package_name()));
                let origin = self.origin(&m.parent_file());
                self.push(
                    Ty::Message(m.full_name().to_owned(), usize::MAX),
                    TyKind::Message,
                    None,
                    local,
                    origin,
                )
            }
            Kind::Enum(e) => self.push(
                Ty::Enum(e.full_name().to_owned()),
                TyKind::Scalar,
                Some(ScalarGroup::GeneralNumber),
                0,
                0,
            ),
            other => {
                let name = scalar_name(&other);
                self.push(
                    Ty::Scalar(name),
                    TyKind::Scalar,
                    Some(scalar_group(name)),
                    0,
                    0,
                )
            }
        }
    }

    fn push(
        &mut self,
        ty: Ty,
        kind: TyKind,
        group: Option<ScalarGroup>,
        local: u64,
        origin: u64,
    ) -> TyView {
        let index = u32::try_from(self.model.types.len()).unwrap_or(u32::MAX);
        self.model.types.push(ty);
        TyView {
            kind,
            group,
            local,
            origin,
            ty: index,
        }
    }
}

fn local_name(full: &str, package: &str) -> String {
    match full.strip_prefix(package) {
        Some(rest) if !package.is_empty() => rest.trim_start_matches('.').to_owned(),
        _ => full.to_owned(),
    }
}

fn scalar_group(name: &str) -> ScalarGroup {
    match name {
        "int32" | "int64" | "uint32" | "uint64" | "bool" => ScalarGroup::GeneralNumber,
        "sint32" | "sint64" => ScalarGroup::SignedNumber,
        "string" | "bytes" => ScalarGroup::StringOrBytes,
        "fixed32" | "sfixed32" => ScalarGroup::Fixed32,
        "fixed64" | "sfixed64" => ScalarGroup::Fixed64,
        "float" => ScalarGroup::Float,
        _ => ScalarGroup::Double,
    }
}

/// The `.proto` keyword of a scalar kind.
pub(crate) fn scalar_name(k: &Kind) -> &'static str {
    match k {
        Kind::Double => "double",
        Kind::Float => "float",
        Kind::Int32 => "int32",
        Kind::Int64 => "int64",
        Kind::Uint32 => "uint32",
        Kind::Uint64 => "uint64",
        Kind::Sint32 => "sint32",
        Kind::Sint64 => "sint64",
        Kind::Fixed32 => "fixed32",
        Kind::Fixed64 => "fixed64",
        Kind::Sfixed32 => "sfixed32",
        Kind::Sfixed64 => "sfixed64",
        Kind::Bool => "bool",
        Kind::String => "string",
        Kind::Bytes => "bytes",
        Kind::Message(_) => "message",
        Kind::Enum(_) => "enum",
    }
}
