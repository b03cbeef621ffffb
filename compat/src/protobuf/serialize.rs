//! `format=serialized`: the binary `FileDescriptorProto` Confluent returns, byte for byte.
//!
//! Confluent does not serialize the descriptor protoc would build. `ProtobufSchema.
//! formattedString("serialized")` returns `toDynamicSchema().getFileDescriptorProto()`: a
//! descriptor that `ProtobufSchema.toDynamicSchema` assembles from its parsed
//! `ProtoFileElement` through the `dynamic/` builders (`DynamicSchema`,
//! `MessageDefinition`, `EnumDefinition`, `ServiceDefinition`), before any name
//! resolution. So, unlike protoc's:
//!
//! * the file is named `default` (`toDynamicSchema()` passes `DEFAULT_NAME`);
//! * `syntax` is set only when the text declares it (proto2 included), `package` only when
//!   declared;
//! * `dependency` lists the plain imports, then the public ones (`import weak` is dropped),
//!   each only when Confluent can resolve it: a reference of the schema or one of the
//!   files it knows without one (`ProtobufSchema.KNOWN_DEPENDENCIES`);
//! * message and enum type names are kept as written (`Line`, `.shop.Line`), with no
//!   `type` (`MessageDefinition.getFieldBuilder` sets `type` for scalars only);
//! * `label` is unset for proto3 fields written without one; oneof members are
//!   `LABEL_OPTIONAL`; map fields `LABEL_REPEATED`;
//! * the fields of a message are its oneofs' members (oneof by oneof) followed by the
//!   other fields, each group in source order; a proto3 `optional` field gets a synthetic
//!   oneof `_name` after the real ones;
//! * a map field's entry type is named by Guava's `LOWER_UNDERSCORE -> UPPER_CAMEL` of
//!   the field name plus `Entry` only when the name has an underscore (`by_sku` ->
//!   `BySkuEntry`), else the name plus `Entry` (`tags` -> `tagsEntry`), is appended after
//!   the written nested messages, and its `key`/`value` fields have no label;
//! * `json_name` only when written; `default_value` only when written (numbers, enum
//!   values and booleans as written);
//! * options: only the ones the builders copy (file: the `java_*`, `go_package`, `*_generic_services`,
//!   `optimize_for`, `deprecated`, `cc_enable_arenas`, `objc_class_prefix`,
//!   `csharp_namespace`, `swift_prefix`, `php_*`, `ruby_package`; message:
//!   `no_standard_descriptor_accessor`, `deprecated`, `map_entry`; field: `ctype`,
//!   `packed` (not for oneof members), `jstype`, `deprecated`; enum: `allow_alias`,
//!   `deprecated`; enum value, service: `deprecated`; method: `deprecated`,
//!   `idempotency_level`) plus Confluent's own `confluent.*_meta`; every other custom
//!   option, oneof options and extension range options are dropped;
//! * groups are dropped (the builders skip Wire's `GroupElement`s); `source_code_info`
//!   is never set; a method's `client_streaming` and `server_streaming` are always set.
//!
//! protobuf-java writes the fields of every message in field-number order, extensions
//! (`confluent.*_meta`, 1088) after the regular option fields, map entries in insertion
//! order; the writer below does the same.
//!
//! A schema registered as a base64 descriptor has no text: Confluent first converts the
//! descriptor into a `ProtoFileElement` (`ProtobufSchema.toProtoFile`), so names are the
//! descriptor's (fully qualified), labels follow the descriptor (unset for proto3
//! singular fields), map entries stay ordinary nested messages where they were, and
//! `json_name` is kept when the descriptor has one.

use super::print::Printer;
use prost_reflect::{
    DynamicMessage, EnumDescriptor, ExtensionDescriptor, FieldDescriptor, FileDescriptor, Kind,
    MessageDescriptor, ServiceDescriptor, Syntax, Value,
};
use prost_types::field_descriptor_proto::{Label as PLabel, Type as PType};
use std::collections::HashSet;

/// The files `ProtobufSchema.KNOWN_DEPENDENCIES` holds: imports of these resolve without a
/// reference.
const KNOWN_DEPENDENCIES: &[&str] = &[
    "confluent/meta.proto",
    "confluent/type/decimal.proto",
    "google/type/calendar_period.proto",
    "google/type/color.proto",
    "google/type/date.proto",
    "google/type/datetime.proto",
    "google/type/dayofweek.proto",
    "google/type/decimal.proto",
    "google/type/expr.proto",
    "google/type/fraction.proto",
    "google/type/interval.proto",
    "google/type/latlng.proto",
    "google/type/money.proto",
    "google/type/month.proto",
    "google/type/phone_number.proto",
    "google/type/postal_address.proto",
    "google/type/quaternion.proto",
    "google/type/timeofday.proto",
    "google/protobuf/any.proto",
    "google/protobuf/api.proto",
    "google/protobuf/descriptor.proto",
    "google/protobuf/duration.proto",
    "google/protobuf/empty.proto",
    "google/protobuf/field_mask.proto",
    "google/protobuf/source_context.proto",
    "google/protobuf/struct.proto",
    "google/protobuf/timestamp.proto",
    "google/protobuf/type.proto",
    "google/protobuf/wrappers.proto",
];

/// The files Confluent resolves without a reference.
pub(crate) fn known_dependencies() -> &'static [&'static str] {
    KNOWN_DEPENDENCIES
}

/// Whether Confluent resolves `import "name"` without a reference.
pub(crate) fn is_known_dependency(name: &str) -> bool {
    KNOWN_DEPENDENCIES.contains(&name)
}

/// What the serializer needs besides the compiled file.
pub(crate) struct Input<'a> {
    pub file: &'a FileDescriptor,
    /// The schema text, `None` for a schema given as a base64 descriptor.
    pub source: Option<&'a str>,
    /// The names of the schema's references.
    pub references: &'a HashSet<String>,
    /// Imports Accord added to resolve names (never written by the author).
    pub hidden_imports: &'a HashSet<String>,
    /// For a base64 schema: the descriptor as given, whose type names and `json_name`s
    /// Confluent keeps (the compiled one has them resolved and filled in).
    pub raw_descriptor: Option<&'a prost_types::FileDescriptorProto>,
}

/// The encoded `FileDescriptorProto` Confluent returns for `format=serialized`.
pub(crate) fn serialize(input: &Input<'_>) -> Vec<u8> {
    let printer = Printer::new(input.file, input.source, false);
    let s = Ser {
        text: input.source.is_some(),
        proto3: input.file.syntax() == Syntax::Proto3,
        printer,
        raw: input.raw_descriptor.filter(|_| input.source.is_none()),
    };
    s.file(input)
}

struct Ser<'a> {
    /// The schema was text (else a descriptor): see the module docs for the differences.
    text: bool,
    proto3: bool,
    printer: Printer<'a>,
    raw: Option<&'a prost_types::FileDescriptorProto>,
}

/// A protobuf writer: fields are written in the order the caller calls it.
#[derive(Default)]
struct W(Vec<u8>);

impl W {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire_type: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire_type));
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn string(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }

    fn msg(&mut self, field: u32, inner: W) {
        self.bytes(field, &inner.0);
    }

    /// `int32`/`enum`: negative values sign-extended to ten bytes, as protobuf-java does.
    fn int32(&mut self, field: u32, v: i32) {
        self.key(field, 0);
        self.varint(i64::from(v) as u64);
    }

    fn boolean(&mut self, field: u32, v: bool) {
        self.key(field, 0);
        self.varint(u64::from(v));
    }

    fn opt_string(&mut self, field: u32, v: &Option<String>) {
        if let Some(s) = v {
            self.string(field, s);
        }
    }

    fn opt_bool(&mut self, field: u32, v: Option<bool>) {
        if let Some(b) = v {
            self.boolean(field, b);
        }
    }

    fn opt_int32(&mut self, field: u32, v: Option<i32>) {
        if let Some(n) = v {
            self.int32(field, n);
        }
    }
}

/// The `confluent.Meta` of a `confluent.*_meta` option, encoded (doc 1, params 2, tags 3).
/// Confluent fills `params` from the option text in order; the descriptor keeps a map
/// without order, so entries are written sorted by key.
fn meta(options: &DynamicMessage, name: &str) -> Option<W> {
    let (_, value) = options.extensions().find(|(e, _)| e.full_name() == name)?;
    let Value::Message(m) = value else {
        return None;
    };
    let mut w = W::default();
    let mut any = false;
    if let Some(Value::String(doc)) = m.get_field_by_name("doc").as_deref() {
        if !doc.is_empty() {
            w.string(1, doc);
            any = true;
        }
    }
    if let Some(Value::Map(params)) = m.get_field_by_name("params").as_deref() {
        let mut entries: Vec<(String, String)> = params
            .iter()
            .filter_map(|(k, v)| match (k, v) {
                (prost_reflect::MapKey::String(k), Value::String(v)) => {
                    Some((k.clone(), v.clone()))
                }
                _ => None,
            })
            .collect();
        entries.sort();
        for (k, v) in entries {
            // A map entry always carries both its key and its value.
            let mut e = W::default();
            e.string(1, &k);
            e.string(2, &v);
            w.msg(2, e);
            any = true;
        }
    }
    if let Some(Value::List(tags)) = m.get_field_by_name("tags").as_deref() {
        for t in tags {
            if let Value::String(t) = t {
                w.string(3, t);
                any = true;
            }
        }
    }
    any.then_some(w)
}

/// Guava's `LOWER_UNDERSCORE.to(UPPER_CAMEL, s)`: every `_`-separated word with its first
/// letter upper-cased and the rest lower-cased.
fn upper_camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split('_') {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars.map(|c| c.to_ascii_lowercase()));
        }
    }
    out
}

/// `ProtobufSchema.toMapEntry`: the entry type Confluent declares for a map field.
pub(crate) fn map_entry_name(field: &str) -> String {
    if field.contains('_') {
        format!("{}Entry", upper_camel(field))
    } else {
        format!("{field}Entry")
    }
}

fn scalar_type(kind: &Kind) -> Option<PType> {
    Some(match kind {
        Kind::Double => PType::Double,
        Kind::Float => PType::Float,
        Kind::Int32 => PType::Int32,
        Kind::Int64 => PType::Int64,
        Kind::Uint32 => PType::Uint32,
        Kind::Uint64 => PType::Uint64,
        Kind::Sint32 => PType::Sint32,
        Kind::Sint64 => PType::Sint64,
        Kind::Fixed32 => PType::Fixed32,
        Kind::Fixed64 => PType::Fixed64,
        Kind::Sfixed32 => PType::Sfixed32,
        Kind::Sfixed64 => PType::Sfixed64,
        Kind::Bool => PType::Bool,
        Kind::String => PType::String,
        Kind::Bytes => PType::Bytes,
        Kind::Message(_) | Kind::Enum(_) => return None,
    })
}

/// One field as Confluent's builders receive it.
struct FieldSpec {
    name: String,
    extendee: Option<String>,
    number: i32,
    label: Option<PLabel>,
    scalar: Option<PType>,
    type_name: Option<String>,
    default_value: Option<String>,
    options: Option<W>,
    oneof_index: Option<i32>,
    json_name: Option<String>,
    proto3_optional: bool,
}

impl FieldSpec {
    fn encode(self) -> W {
        let mut w = W::default();
        w.string(1, &self.name);
        w.opt_string(2, &self.extendee);
        w.int32(3, self.number);
        if let Some(l) = self.label {
            w.int32(4, l as i32);
        }
        if let Some(t) = self.scalar {
            w.int32(5, t as i32);
        }
        w.opt_string(6, &self.type_name);
        w.opt_string(7, &self.default_value);
        if let Some(o) = self.options {
            w.msg(8, o);
        }
        w.opt_int32(9, self.oneof_index);
        w.opt_string(10, &self.json_name);
        if self.proto3_optional {
            w.boolean(17, true);
        }
        w
    }
}

impl Ser<'_> {
    /// The field (or extension) at descriptor `path` in the descriptor as given.
    fn raw_field(&self, path: &[i32]) -> Option<&prost_types::FieldDescriptorProto> {
        let raw = self.raw?;
        let index = |i: &i32| usize::try_from(*i).ok();
        match path {
            [7, k] => raw.extension.get(index(k)?),
            [4, i, rest @ ..] => {
                let mut m = raw.message_type.get(index(i)?)?;
                let mut rest = rest;
                loop {
                    match rest {
                        [3, j, tail @ ..] => {
                            m = m.nested_type.get(index(j)?)?;
                            rest = tail;
                        }
                        [2, k] => return m.field.get(index(k)?),
                        [6, k] => return m.extension.get(index(k)?),
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }

    /// A method's input (2) or output (3) type in the descriptor as given.
    fn raw_method_type(&self, path: &[i32], which: i32) -> Option<String> {
        let raw = self.raw?;
        let [6, s, 2, m] = path else {
            return None;
        };
        let method = raw
            .service
            .get(usize::try_from(*s).ok()?)?
            .method
            .get(usize::try_from(*m).ok()?)?;
        match which {
            2 => method.input_type.clone(),
            _ => method.output_type.clone(),
        }
    }

    fn file(&self, input: &Input<'_>) -> Vec<u8> {
        let file = input.file;
        let fdp = file.file_descriptor_proto();
        let mut w = W::default();
        w.string(1, "default");
        if !fdp.package().is_empty() {
            w.string(2, fdp.package());
        }

        // Plain imports first, then public ones, each once and only when resolvable.
        let public: HashSet<i32> = fdp.public_dependency.iter().copied().collect();
        let weak: HashSet<i32> = fdp.weak_dependency.iter().copied().collect();
        let resolvable = |name: &str| {
            !input.hidden_imports.contains(name)
                && (input.references.contains(name) || is_known_dependency(name))
        };
        let mut deps: Vec<&str> = Vec::new();
        let mut public_indexes: Vec<i32> = Vec::new();
        for pass_public in [false, true] {
            for (i, dep) in fdp.dependency.iter().enumerate() {
                let i = i32::try_from(i).unwrap_or(i32::MAX);
                if public.contains(&i) != pass_public || (self.text && weak.contains(&i)) {
                    continue;
                }
                if !resolvable(dep) {
                    continue;
                }
                let at = match deps.iter().position(|d| d == dep) {
                    Some(at) => at,
                    None => {
                        deps.push(dep);
                        deps.len() - 1
                    }
                };
                if pass_public {
                    public_indexes.push(i32::try_from(at).unwrap_or(i32::MAX));
                }
            }
        }
        for d in &deps {
            w.string(3, d);
        }
        for m in file.messages() {
            if let Some(m) = self.message(&m) {
                w.msg(4, m);
            }
        }
        for e in file.enums() {
            w.msg(5, self.enumeration(&e));
        }
        for s in file.services() {
            w.msg(6, self.service(&s));
        }
        for e in file.extensions() {
            if let Some(f) = self.extension(&e) {
                w.msg(7, f.encode());
            }
        }
        if let Some(o) = self.file_options(file) {
            w.msg(8, o);
        }
        for i in public_indexes {
            w.int32(10, i);
        }
        let syntax = match (self.text, file.syntax()) {
            (true, _) if !self.printer.explicit_syntax() => None,
            (_, Syntax::Proto3) => Some("proto3"),
            (true, _) => Some("proto2"),
            (false, _) => match fdp.syntax() {
                "proto2" => Some("proto2"),
                _ => None,
            },
        };
        if let Some(s) = syntax {
            w.string(12, s);
        }
        w.0
    }

    fn file_options(&self, file: &FileDescriptor) -> Option<W> {
        let raw = file.file_descriptor_proto().options.as_ref()?;
        let mut w = W::default();
        w.opt_string(1, &raw.java_package);
        w.opt_string(8, &raw.java_outer_classname);
        w.opt_int32(9, raw.optimize_for);
        w.opt_bool(10, raw.java_multiple_files);
        w.opt_string(11, &raw.go_package);
        w.opt_bool(16, raw.cc_generic_services);
        w.opt_bool(17, raw.java_generic_services);
        w.opt_bool(18, raw.py_generic_services);
        // Deprecated in descriptor.proto, still copied by Confluent.
        #[allow(deprecated)]
        w.opt_bool(20, raw.java_generate_equals_and_hash);
        w.opt_bool(23, raw.deprecated);
        w.opt_bool(27, raw.java_string_check_utf8);
        w.opt_bool(31, raw.cc_enable_arenas);
        w.opt_string(36, &raw.objc_class_prefix);
        w.opt_string(37, &raw.csharp_namespace);
        w.opt_string(39, &raw.swift_prefix);
        w.opt_string(40, &raw.php_class_prefix);
        w.opt_string(41, &raw.php_namespace);
        w.opt_bool(42, raw.php_generic_services);
        w.opt_string(44, &raw.php_metadata_namespace);
        w.opt_string(45, &raw.ruby_package);
        if let Some(m) = meta(&file.options(), "confluent.file_meta") {
            w.msg(1088, m);
        }
        (!w.0.is_empty()).then_some(w)
    }

    /// A message, or `None` for a group's type in text mode (Confluent drops groups).
    fn message(&self, m: &MessageDescriptor) -> Option<W> {
        let raw = m.descriptor_proto();
        let mut w = W::default();
        w.string(1, m.name());

        // Oneofs Confluent knows: text: the written ones; descriptor: those with a member
        // that is not a proto3 `optional` field.
        let real: Vec<usize> = (0..raw.oneof_decl.len())
            .filter(|&i| {
                let i = i32::try_from(i).unwrap_or(i32::MAX);
                raw.field
                    .iter()
                    .any(|f| f.oneof_index == Some(i) && !f.proto3_optional())
            })
            .collect();
        let new_index = |old: i32| -> Option<i32> {
            let old = usize::try_from(old).ok()?;
            real.iter()
                .position(|&r| r == old)
                .and_then(|p| i32::try_from(p).ok())
        };

        let mut fields: Vec<W> = Vec::new();
        let mut synthetic: Vec<String> = Vec::new();
        let mut entries: Vec<W> = Vec::new();
        for &oneof in &real {
            let oneof_i32 = i32::try_from(oneof).unwrap_or(i32::MAX);
            for (j, f) in raw.field.iter().enumerate() {
                if f.oneof_index != Some(oneof_i32) || f.proto3_optional() {
                    continue;
                }
                if let Some(spec) = self.field(m, j, new_index(oneof_i32), None) {
                    fields.push(spec.encode());
                }
            }
        }
        for (j, f) in raw.field.iter().enumerate() {
            if f.oneof_index.is_some() && !f.proto3_optional() {
                continue;
            }
            let synthetic_index = if f.proto3_optional() {
                let index = real.len() + synthetic.len();
                synthetic.push(format!("_{}", f.name()));
                i32::try_from(index).ok()
            } else {
                None
            };
            let Some(spec) = self.field(m, j, synthetic_index, Some(&mut entries)) else {
                continue;
            };
            fields.push(spec.encode());
        }
        for f in fields {
            w.msg(2, f);
        }

        let group_kinds = m
            .fields()
            .filter(FieldDescriptor::is_group)
            .map(|f| f.kind())
            .chain(
                m.child_extensions()
                    .filter(ExtensionDescriptor::is_group)
                    .map(|e| e.kind()),
            );
        let groups: HashSet<String> = group_kinds
            .filter_map(|k| match k {
                Kind::Message(g) => Some(g.full_name().to_owned()),
                _ => None,
            })
            .collect();
        for c in m.child_messages() {
            if self.text && (c.is_map_entry() || groups.contains(c.full_name())) {
                continue;
            }
            if let Some(c) = self.message(&c) {
                w.msg(3, c);
            }
        }
        for e in entries {
            w.msg(3, e);
        }
        for e in m.child_enums() {
            w.msg(4, self.enumeration(&e));
        }
        for r in &raw.extension_range {
            let mut rw = W::default();
            rw.opt_int32(1, r.start);
            rw.opt_int32(2, r.end);
            w.msg(5, rw);
        }
        for e in m.child_extensions() {
            if let Some(f) = self.extension(&e) {
                w.msg(6, f.encode());
            }
        }
        if let Some(o) = self.message_options(m) {
            w.msg(7, o);
        }
        for &i in &real {
            let mut ow = W::default();
            ow.string(
                1,
                raw.oneof_decl.get(i).map(|d| d.name()).unwrap_or_default(),
            );
            w.msg(8, ow);
        }
        for name in &synthetic {
            let mut ow = W::default();
            ow.string(1, name);
            w.msg(8, ow);
        }
        for r in &raw.reserved_range {
            let mut rw = W::default();
            rw.opt_int32(1, r.start);
            rw.opt_int32(2, r.end);
            w.msg(9, rw);
        }
        for n in &raw.reserved_name {
            w.string(10, n);
        }
        Some(w)
    }

    fn message_options(&self, m: &MessageDescriptor) -> Option<W> {
        let raw = m.descriptor_proto().options.as_ref()?;
        let mut w = W::default();
        w.opt_bool(2, raw.no_standard_descriptor_accessor);
        w.opt_bool(3, raw.deprecated);
        w.opt_bool(7, raw.map_entry);
        if let Some(meta) = meta(&m.options(), "confluent.message_meta") {
            w.msg(1088, meta);
        }
        (!w.0.is_empty()).then_some(w)
    }

    /// The field at index `j` of `m`'s declaration list; `None` for a group in text mode.
    /// Map entries Confluent generates for text are pushed to `entries`.
    fn field(
        &self,
        m: &MessageDescriptor,
        j: usize,
        oneof_index: Option<i32>,
        entries: Option<&mut Vec<W>>,
    ) -> Option<FieldSpec> {
        let raw = m.descriptor_proto().field.get(j)?;
        let f = u32::try_from(raw.number())
            .ok()
            .and_then(|n| m.get_field(n))?;
        let mut path = m.path().to_vec();
        path.extend([2, i32::try_from(j).unwrap_or(i32::MAX)]);
        let in_real_oneof = raw.oneof_index.is_some() && !raw.proto3_optional();
        if self.text && f.is_group() {
            return None;
        }
        if self.text && f.is_map() {
            let Kind::Message(entry) = f.kind() else {
                return None;
            };
            let name = map_entry_name(f.name());
            let (key_written, value_written) = self.printer.written_map(&path).unzip();
            let mut e = W::default();
            e.string(1, &name);
            let key = entry.map_entry_key_field();
            let value = entry.map_entry_value_field();
            let key_spec = FieldSpec {
                name: "key".to_owned(),
                extendee: None,
                number: 1,
                label: None,
                scalar: scalar_type(&key.kind()),
                type_name: scalar_type(&key.kind())
                    .is_none()
                    .then(|| key_written.unwrap_or_else(|| type_ref(&key.kind()))),
                default_value: None,
                options: None,
                oneof_index: None,
                json_name: None,
                proto3_optional: false,
            };
            let value_spec = FieldSpec {
                name: "value".to_owned(),
                number: 2,
                scalar: scalar_type(&value.kind()),
                type_name: scalar_type(&value.kind())
                    .is_none()
                    .then(|| value_written.unwrap_or_else(|| type_ref(&value.kind()))),
                ..FieldSpec::empty()
            };
            e.msg(2, key_spec.encode());
            e.msg(2, value_spec.encode());
            let mut opts = W::default();
            opts.boolean(7, true);
            e.msg(7, opts);
            if let Some(entries) = entries {
                entries.push(e);
            }
            return Some(FieldSpec {
                name: f.name().to_owned(),
                extendee: None,
                number: raw.number(),
                label: Some(PLabel::Repeated),
                scalar: None,
                type_name: Some(name),
                default_value: None,
                options: self.field_options(raw, &f.options(), !in_real_oneof),
                oneof_index: None,
                json_name: self.json_name(&path, raw),
                proto3_optional: false,
            });
        }
        let label = if in_real_oneof {
            Some(PLabel::Optional)
        } else {
            self.label(raw)
        };
        Some(FieldSpec {
            name: f.name().to_owned(),
            extendee: None,
            number: raw.number(),
            label,
            scalar: scalar_type(&f.kind()),
            type_name: scalar_type(&f.kind())
                .is_none()
                .then(|| self.type_name(&path, 6, &f.kind())),
            default_value: self.default_value(&path, raw, &f.kind()),
            options: self.field_options(raw, &f.options(), !in_real_oneof),
            oneof_index,
            json_name: self.json_name(&path, raw),
            proto3_optional: raw.proto3_optional(),
        })
    }

    fn extension(&self, e: &ExtensionDescriptor) -> Option<FieldSpec> {
        if self.text && e.is_group() {
            return None;
        }
        let raw = e.field_descriptor_proto();
        let path = e.path();
        let extendee = if self.text {
            self.printer.written_type(path, 2)
        } else {
            self.raw_field(path).and_then(|r| r.extendee.clone())
        }
        .unwrap_or_else(|| format!(".{}", e.containing_message().full_name()));
        Some(FieldSpec {
            name: e.name().to_owned(),
            extendee: Some(extendee),
            number: raw.number(),
            label: self.label(raw),
            scalar: scalar_type(&e.kind()),
            type_name: scalar_type(&e.kind())
                .is_none()
                .then(|| self.type_name(path, 6, &e.kind())),
            default_value: self.default_value(path, raw, &e.kind()),
            options: self.field_options(raw, &e.options(), true),
            oneof_index: None,
            json_name: self.json_name(path, raw),
            proto3_optional: raw.proto3_optional(),
        })
    }

    /// Text: the label as written (none for a proto3 singular field); descriptor:
    /// `ProtobufSchema.label` (none for proto3 `optional`/`required` labels).
    fn label(&self, raw: &prost_types::FieldDescriptorProto) -> Option<PLabel> {
        if raw.proto3_optional() {
            return Some(PLabel::Optional);
        }
        match raw.label() {
            PLabel::Repeated => Some(PLabel::Repeated),
            _ if self.proto3 => None,
            PLabel::Required => Some(PLabel::Required),
            PLabel::Optional => Some(PLabel::Optional),
        }
    }

    fn type_name(&self, path: &[i32], suffix: i32, kind: &Kind) -> String {
        let written = if self.text {
            self.printer.written_type(path, suffix)
        } else {
            self.raw_field(path).and_then(|r| r.type_name.clone())
        };
        written.unwrap_or_else(|| type_ref(kind))
    }

    fn json_name(&self, path: &[i32], raw: &prost_types::FieldDescriptorProto) -> Option<String> {
        if self.text {
            return self
                .printer
                .has_span(path, 10)
                .then(|| raw.json_name.clone())
                .flatten();
        }
        match self.raw {
            Some(_) => self.raw_field(path).and_then(|r| r.json_name.clone()),
            None => raw.json_name.clone(),
        }
    }

    /// Wire keeps a default as its source token (strings unquoted and unescaped);
    /// Confluent drops defaults of proto3 descriptors.
    fn default_value(
        &self,
        path: &[i32],
        raw: &prost_types::FieldDescriptorProto,
        kind: &Kind,
    ) -> Option<String> {
        let value = raw.default_value.clone()?;
        if !self.text {
            return (!self.proto3).then_some(value);
        }
        if matches!(kind, Kind::String | Kind::Bytes) {
            return Some(value);
        }
        Some(self.printer.written_token(path, 7).unwrap_or(value))
    }

    fn field_options(
        &self,
        raw: &prost_types::FieldDescriptorProto,
        options: &DynamicMessage,
        packed_allowed: bool,
    ) -> Option<W> {
        let o = raw.options.as_ref()?;
        let mut w = W::default();
        w.opt_int32(1, o.ctype);
        if packed_allowed {
            w.opt_bool(2, o.packed);
        }
        w.opt_bool(3, o.deprecated);
        w.opt_int32(6, o.jstype);
        if let Some(m) = meta(options, "confluent.field_meta") {
            w.msg(1088, m);
        }
        (!w.0.is_empty()).then_some(w)
    }

    fn enumeration(&self, e: &EnumDescriptor) -> W {
        let raw = e.enum_descriptor_proto();
        let mut w = W::default();
        w.string(1, e.name());
        for v in &raw.value {
            let mut vw = W::default();
            vw.string(1, v.name());
            vw.int32(2, v.number());
            if let Some(o) = &v.options {
                let mut ow = W::default();
                ow.opt_bool(1, o.deprecated);
                if let Some(m) = e
                    .get_value_by_name(v.name())
                    .and_then(|d| meta(&d.options(), "confluent.enum_value_meta"))
                {
                    ow.msg(1088, m);
                }
                if !ow.0.is_empty() {
                    vw.msg(3, ow);
                }
            }
            w.msg(2, vw);
        }
        if let Some(o) = &raw.options {
            let mut ow = W::default();
            ow.opt_bool(2, o.allow_alias);
            ow.opt_bool(3, o.deprecated);
            if let Some(m) = meta(&e.options(), "confluent.enum_meta") {
                ow.msg(1088, m);
            }
            if !ow.0.is_empty() {
                w.msg(3, ow);
            }
        }
        for r in &raw.reserved_range {
            let mut rw = W::default();
            rw.opt_int32(1, r.start);
            rw.opt_int32(2, r.end);
            w.msg(4, rw);
        }
        for n in &raw.reserved_name {
            w.string(5, n);
        }
        w
    }

    fn service(&self, s: &ServiceDescriptor) -> W {
        let raw = s.service_descriptor_proto();
        let mut w = W::default();
        w.string(1, s.name());
        for m in s.methods() {
            let mraw = m.method_descriptor_proto();
            let mut mw = W::default();
            mw.string(1, m.name());
            let input = if self.text {
                self.printer.written_type(m.path(), 2)
            } else {
                self.raw_method_type(m.path(), 2)
            };
            let output = if self.text {
                self.printer.written_type(m.path(), 3)
            } else {
                self.raw_method_type(m.path(), 3)
            };
            mw.string(
                2,
                &input.unwrap_or_else(|| format!(".{}", m.input().full_name())),
            );
            mw.string(
                3,
                &output.unwrap_or_else(|| format!(".{}", m.output().full_name())),
            );
            if let Some(o) = &mraw.options {
                let mut ow = W::default();
                ow.opt_bool(33, o.deprecated);
                ow.opt_int32(34, o.idempotency_level);
                if !ow.0.is_empty() {
                    mw.msg(4, ow);
                }
            }
            mw.boolean(5, m.is_client_streaming());
            mw.boolean(6, m.is_server_streaming());
            w.msg(2, mw);
        }
        if let Some(o) = &raw.options {
            let mut ow = W::default();
            ow.opt_bool(33, o.deprecated);
            if !ow.0.is_empty() {
                w.msg(3, ow);
            }
        }
        w
    }
}

impl FieldSpec {
    /// A spec with no optional parts, to fill with struct update syntax.
    fn empty() -> FieldSpec {
        FieldSpec {
            name: String::new(),
            extendee: None,
            number: 0,
            label: None,
            scalar: None,
            type_name: None,
            default_value: None,
            options: None,
            oneof_index: None,
            json_name: None,
            proto3_optional: false,
        }
    }
}

/// A message or enum type named as a descriptor names it: fully qualified.
fn type_ref(kind: &Kind) -> String {
    match kind {
        Kind::Message(m) => format!(".{}", m.full_name()),
        Kind::Enum(e) => format!(".{}", e.full_name()),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_entry_names_follow_confluent() {
        assert_eq!(map_entry_name("tags"), "tagsEntry");
        assert_eq!(map_entry_name("by_sku"), "BySkuEntry");
        assert_eq!(map_entry_name("my_MAP_field"), "MyMapFieldEntry");
        assert_eq!(map_entry_name("_x__y_"), "XYEntry");
    }

    #[test]
    fn negative_int32_is_ten_bytes() {
        let mut w = W::default();
        w.int32(1, -1);
        assert_eq!(w.0.len(), 11);
    }
}
