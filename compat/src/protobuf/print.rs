//! The `.proto` printer: Confluent's `ProtobufSchemaUtils` layout, driven by descriptors.
//!
//! Layout (as Confluent prints it): `syntax`/`package` lines, then one blank line before each
//! non-empty section (imports, options, types, extends, services); inside a message the
//! sections reserved / options / fields / oneofs / extension ranges / nested types are each
//! introduced by a blank line; nested messages come before nested enums; two-space indent.
//! Type names are printed as the author wrote them when the source text is known, and fully
//! qualified (`.pkg.Type`) otherwise and in the normalized form.

use super::model::scalar_name;
use prost_reflect::{
    DynamicMessage, EnumDescriptor, ExtensionDescriptor, FieldDescriptor, FileDescriptor, Kind,
    MapKey, MessageDescriptor, ServiceDescriptor, Syntax, Value,
};
use prost_types::source_code_info::Location;
use std::collections::{HashMap, HashSet};

/// Deeper values than this are not printed; descriptors decoded by prost cannot nest deeper
/// than 100 levels, so this only guards against future changes there.
const MAX_DEPTH: usize = 200;

pub(crate) struct Printer<'a> {
    file: &'a FileDescriptor,
    normalize: bool,
    /// protox leaves `syntax` unset for proto2, like protoc; Confluent still prints the
    /// statement when the author wrote it.
    explicit_syntax: bool,
    proto3: bool,
    source: Option<&'a str>,
    line_starts: Vec<usize>,
    spans: HashMap<&'a [i32], &'a [i32]>,
    /// Imports the author did not write (added to resolve names): not printed.
    hidden: Option<&'a HashSet<String>>,
}

impl<'a> Printer<'a> {
    pub fn new(file: &'a FileDescriptor, source: Option<&'a str>, normalize: bool) -> Self {
        let mut spans = HashMap::new();
        let mut line_starts = Vec::new();
        if let (Some(src), false) = (source, normalize) {
            line_starts.push(0);
            line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
            if let Some(sci) = &file.file_descriptor_proto().source_code_info {
                for Location { path, span, .. } in &sci.location {
                    // Only type names are looked up: a field's `type_name` (6), an
                    // extension's `extendee` (2), a method's input and output (2, 3).
                    // The serializer also asks for a field's default (7) and
                    // `json_name` (10).
                    if matches!(path.last(), Some(2 | 3 | 6 | 7 | 10)) {
                        spans.insert(path.as_slice(), span.as_slice());
                    }
                }
            }
        }
        Printer {
            file,
            normalize,
            explicit_syntax: source.is_some_and(starts_with_syntax),
            proto3: file.syntax() == Syntax::Proto3,
            source: if normalize { None } else { source },
            line_starts,
            spans,
            hidden: None,
        }
    }

    /// The same printer, leaving out the imports in `hidden`.
    pub fn hiding(mut self, hidden: &'a HashSet<String>) -> Self {
        self.hidden = Some(hidden);
        self
    }

    pub fn print(&self) -> String {
        let fdp = self.file.file_descriptor_proto();
        let mut sb = String::new();
        match &fdp.syntax {
            Some(syntax) if !syntax.is_empty() => {
                sb.push_str(&format!("syntax = \"{}\";\n", escape_str(syntax)));
            }
            // The normalized form always states the syntax, so that a proto2 text with and
            // without the statement (and its base64 descriptor) converge.
            _ if self.explicit_syntax || self.normalize => {
                sb.push_str("syntax = \"proto2\";\n");
            }
            _ => {}
        }
        if !fdp.package().is_empty() {
            sb.push_str(&format!("package {};\n", fdp.package()));
        }

        let public: HashSet<i32> = fdp.public_dependency.iter().copied().collect();
        let weak: HashSet<i32> = fdp.weak_dependency.iter().copied().collect();
        let (mut plain, mut publics, mut weaks) = (Vec::new(), Vec::new(), Vec::new());
        for (i, dep) in fdp.dependency.iter().enumerate() {
            let i = i32::try_from(i).unwrap_or(i32::MAX);
            if self.hidden.is_some_and(|h| h.contains(dep)) {
                continue;
            }
            if public.contains(&i) {
                publics.push(dep.as_str());
            } else if weak.contains(&i) {
                weaks.push(dep.as_str());
            } else {
                plain.push(dep.as_str());
            }
        }
        if self.normalize {
            for list in [&mut plain, &mut publics, &mut weaks] {
                list.sort_unstable();
                list.dedup();
            }
        }
        if !(plain.is_empty() && publics.is_empty() && weaks.is_empty()) {
            sb.push('\n');
            for (list, kw) in [(&plain, ""), (&publics, "public "), (&weaks, "weak ")] {
                for dep in list.iter() {
                    sb.push_str(&format!("import {kw}\"{}\";\n", escape_str(dep)));
                }
            }
        }

        let options = self.options(&self.file.options(), &[]);
        if !options.is_empty() {
            sb.push('\n');
            for o in &options {
                sb.push_str(&self.option_statement(o));
            }
        }

        let messages: Vec<MessageDescriptor> = self.file.messages().collect();
        let enums: Vec<EnumDescriptor> = self.file.enums().collect();
        let groups = group_types(self.file.extensions());
        if !messages.is_empty() || !enums.is_empty() {
            sb.push('\n');
            for m in messages.iter().filter(|m| !groups.contains(m.full_name())) {
                sb.push_str(&self.message(m, 0));
            }
            for e in &enums {
                sb.push_str(&self.enumeration(e));
            }
        }

        let extends = self.extends(self.file.extensions().collect(), 0);
        if !extends.is_empty() {
            sb.push('\n');
            sb.push_str(&extends);
        }

        let services: Vec<ServiceDescriptor> = self.file.services().collect();
        if !services.is_empty() {
            sb.push('\n');
            for s in &services {
                sb.push_str(&self.service(s));
            }
        }
        // A file with no declarations at all (only comments) still prints as a valid
        // schema: an empty text would not parse back (found by the parse_protobuf fuzzer).
        if sb.trim().is_empty() {
            sb.push_str("syntax = \"proto2\";\n");
        }
        sb
    }

    fn message(&self, m: &MessageDescriptor, depth: usize) -> String {
        format!("message {} {{{}", m.name(), self.message_body(m, depth))
    }

    /// Everything after the opening `{` of a message (or group), up to and including `}\n`.
    fn message_body(&self, m: &MessageDescriptor, depth: usize) -> String {
        let mut sb = String::new();
        if depth > MAX_DEPTH {
            sb.push_str("}\n");
            return sb;
        }
        let raw = m.descriptor_proto();

        let reserved = self.reserved_lines(
            raw.reserved_range
                .iter()
                .map(|r| (r.start(), r.end().saturating_sub(1))),
            &raw.reserved_name,
        );
        if !reserved.is_empty() {
            sb.push('\n');
            for r in &reserved {
                sb.push_str(&indent(r));
            }
        }

        let options = match raw.options {
            Some(_) => self.options(&m.options(), &["map_entry"]),
            None => Vec::new(),
        };
        if !options.is_empty() {
            sb.push('\n');
            for o in &options {
                sb.push_str(&indent(&self.option_statement(o)));
            }
        }

        let mut plain = Vec::new();
        let mut oneof_members: Vec<Vec<FieldDescriptor>> = vec![Vec::new(); raw.oneof_decl.len()];
        for f in fields_in_order(m) {
            match f.containing_oneof().filter(|o| !o.is_synthetic()) {
                Some(o) => {
                    if let Some(list) = raw
                        .oneof_decl
                        .iter()
                        .position(|d| d.name() == o.name())
                        .and_then(|i| oneof_members.get_mut(i))
                    {
                        list.push(f);
                    }
                }
                None => plain.push(f),
            }
        }
        if self.normalize {
            plain.sort_by_key(FieldDescriptor::number);
        }
        if !plain.is_empty() {
            sb.push('\n');
            for f in &plain {
                sb.push_str(&indent(&self.field(f, false, depth)));
            }
        }

        let mut oneofs: Vec<(usize, Vec<FieldDescriptor>)> = oneof_members
            .into_iter()
            .enumerate()
            .filter(|(i, members)| {
                // Synthetic oneofs of proto3 `optional` fields are not printed.
                !members.is_empty() || !self.is_synthetic_decl(m, *i)
            })
            .collect();
        if self.normalize {
            oneofs.retain(|(_, members)| !members.is_empty());
            for (_, members) in oneofs.iter_mut() {
                members.sort_by_key(FieldDescriptor::number);
            }
            oneofs.sort_by_key(|(_, members)| members.first().map(FieldDescriptor::number));
        }
        if !oneofs.is_empty() {
            sb.push('\n');
            for (i, members) in &oneofs {
                sb.push_str(&indent(&self.oneof(m, *i, members, depth)));
            }
        }

        let mut ext_ranges: Vec<(i32, i32)> = raw
            .extension_range
            .iter()
            .map(|r| (r.start(), r.end().saturating_sub(1)))
            .collect();
        if self.normalize {
            ext_ranges.sort_unstable();
        }
        if !ext_ranges.is_empty() {
            sb.push('\n');
            let parts: Vec<String> = ext_ranges
                .iter()
                .map(|&(s, e)| {
                    if s == e {
                        s.to_string()
                    } else if e >= 536_870_911 {
                        format!("{s} to max")
                    } else {
                        format!("{s} to {e}")
                    }
                })
                .collect();
            sb.push_str(&indent(&format!("extensions {};\n", parts.join(", "))));
        }

        let groups = group_types(m.child_extensions());
        let groups: HashSet<String> =
            groups
                .into_iter()
                .chain(m.fields().filter(FieldDescriptor::is_group).filter_map(
                    |f| match f.kind() {
                        Kind::Message(g) => Some(g.full_name().to_owned()),
                        _ => None,
                    },
                ))
                .collect();
        let nested: Vec<MessageDescriptor> = m
            .child_messages()
            .filter(|c| !c.is_map_entry() && !groups.contains(c.full_name()))
            .collect();
        let nested_enums: Vec<EnumDescriptor> = m.child_enums().collect();
        if !nested.is_empty() || !nested_enums.is_empty() {
            sb.push('\n');
            for c in &nested {
                sb.push_str(&indent(&self.message(c, depth + 1)));
            }
            for e in &nested_enums {
                sb.push_str(&indent(&self.enumeration(e)));
            }
        }

        let extends = self.extends(m.child_extensions().collect(), depth + 1);
        if !extends.is_empty() {
            sb.push('\n');
            sb.push_str(&indent(&extends));
        }
        sb.push_str("}\n");
        sb
    }

    fn is_synthetic_decl(&self, m: &MessageDescriptor, index: usize) -> bool {
        let name = m
            .descriptor_proto()
            .oneof_decl
            .get(index)
            .map(|d| d.name().to_owned())
            .unwrap_or_default();
        m.oneofs()
            .find(|o| o.name() == name)
            .is_some_and(|o| o.is_synthetic())
    }

    fn oneof(
        &self,
        m: &MessageDescriptor,
        index: usize,
        members: &[FieldDescriptor],
        depth: usize,
    ) -> String {
        let name = m
            .descriptor_proto()
            .oneof_decl
            .get(index)
            .map(|d| d.name().to_owned())
            .unwrap_or_default();
        let mut sb = format!("oneof {name} {{");
        let options = m
            .oneofs()
            .find(|o| o.name() == name)
            .map(|o| self.options(&o.options(), &[]))
            .unwrap_or_default();
        if !options.is_empty() {
            sb.push('\n');
            for o in &options {
                sb.push_str(&indent(&self.option_statement(o)));
            }
        }
        if !members.is_empty() {
            sb.push('\n');
            for f in members {
                sb.push_str(&indent(&self.field(f, true, depth)));
            }
        }
        sb.push_str("}\n");
        sb
    }

    /// One field declaration (or a whole group, which declares a field and its type).
    fn field(&self, f: &FieldDescriptor, in_oneof: bool, depth: usize) -> String {
        let raw = f.field_descriptor_proto();
        let label = if in_oneof || f.is_map() {
            None
        } else {
            self.label(raw, f.cardinality())
        };
        let ty = self.field_type(f.kind(), f.is_map(), f.path());
        // Decoding options is the costly part of printing; most fields have none.
        let set = raw.options.as_ref().map(|_| f.options());
        let options = self.field_options(set.as_ref(), raw, &f.kind(), f.name());
        self.field_text(
            label,
            &ty,
            f.name(),
            f.number(),
            options,
            f.is_group(),
            &f.kind(),
            depth,
        )
    }

    fn extension(&self, e: &ExtensionDescriptor, depth: usize) -> String {
        let raw = e.field_descriptor_proto();
        let label = self.label(raw, e.cardinality());
        let ty = self.field_type(e.kind(), false, e.path());
        let set = raw.options.as_ref().map(|_| e.options());
        let options = self.field_options(set.as_ref(), raw, &e.kind(), e.name());
        self.field_text(
            label,
            &ty,
            e.name(),
            e.number(),
            options,
            e.is_group(),
            &e.kind(),
            depth,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn field_text(
        &self,
        label: Option<&str>,
        ty: &str,
        name: &str,
        number: u32,
        options: Vec<Opt>,
        group: bool,
        kind: &Kind,
        depth: usize,
    ) -> String {
        let mut sb = String::new();
        if let Some(l) = label {
            sb.push_str(l);
            sb.push(' ');
        }
        if let (true, Kind::Message(g)) = (group, kind) {
            sb.push_str(&format!("group {} = {number}", g.name()));
            if !options.is_empty() {
                sb.push(' ');
                sb.push_str(&self.option_list(&options));
            }
            sb.push_str(" {");
            sb.push_str(&self.message_body(g, depth + 1));
            return sb;
        }
        sb.push_str(&format!("{ty} {name} = {number}"));
        if !options.is_empty() {
            sb.push(' ');
            sb.push_str(&self.option_list(&options));
        }
        sb.push_str(";\n");
        sb
    }

    fn label(
        &self,
        raw: &prost_types::FieldDescriptorProto,
        card: prost_reflect::Cardinality,
    ) -> Option<&'static str> {
        use prost_reflect::Cardinality;
        if raw.proto3_optional() {
            return Some("optional");
        }
        match card {
            Cardinality::Repeated => Some("repeated"),
            Cardinality::Required => Some("required"),
            Cardinality::Optional if self.proto3 => None,
            Cardinality::Optional => Some("optional"),
        }
    }

    fn field_type(&self, kind: Kind, is_map: bool, path: &[i32]) -> String {
        match kind {
            Kind::Message(m) if is_map => {
                let key = scalar_name(&m.map_entry_key_field().kind()).to_owned();
                let value_kind = m.map_entry_value_field().kind();
                let value = match &value_kind {
                    Kind::Message(v) => self.written_map_value(path, v.full_name()),
                    Kind::Enum(v) => self.written_map_value(path, v.full_name()),
                    other => scalar_name(other).to_owned(),
                };
                format!("map<{key}, {value}>")
            }
            Kind::Message(m) => self.type_ref(path, 6, m.full_name()),
            Kind::Enum(e) => self.type_ref(path, 6, e.full_name()),
            other => scalar_name(&other).to_owned(),
        }
    }

    /// Whether the text declares its syntax (the serializer sets `syntax` only then).
    pub(crate) fn explicit_syntax(&self) -> bool {
        self.explicit_syntax
    }

    /// The type name written at `path + [suffix]`, when the source text is known.
    pub(crate) fn written_type(&self, path: &[i32], suffix: i32) -> Option<String> {
        self.written(path, suffix).filter(|t| is_type_name(t))
    }

    /// A map field's key and value types as written.
    pub(crate) fn written_map(&self, path: &[i32]) -> Option<(String, String)> {
        let t = self.written(path, 6)?;
        let inner = t.strip_prefix("map")?.trim_start().strip_prefix('<')?;
        let inner = inner.strip_suffix('>')?;
        let (key, value) = inner.split_once(',')?;
        let key: String = key.chars().filter(|c| !c.is_whitespace()).collect();
        let value: String = value.chars().filter(|c| !c.is_whitespace()).collect();
        (is_type_name(&key) && is_type_name(&value)).then_some((key, value))
    }

    /// Whether the source records a span at `path + [suffix]` (an option the author wrote).
    pub(crate) fn has_span(&self, path: &[i32], suffix: i32) -> bool {
        let mut key = path.to_vec();
        key.push(suffix);
        self.spans.contains_key(key.as_slice())
    }

    /// The source token at `path + [suffix]`, whitespace removed.
    pub(crate) fn written_token(&self, path: &[i32], suffix: i32) -> Option<String> {
        self.written(path, suffix).filter(|t| !t.is_empty())
    }

    /// The type name at `path + [suffix]` as written in the source, else fully qualified.
    fn type_ref(&self, path: &[i32], suffix: i32, full_name: &str) -> String {
        self.written(path, suffix)
            .filter(|t| is_type_name(t))
            .unwrap_or_else(|| format!(".{full_name}"))
    }

    fn written_map_value(&self, path: &[i32], full_name: &str) -> String {
        self.written(path, 6)
            .and_then(|t| {
                let inner = t.strip_prefix("map")?.trim_start().strip_prefix('<')?;
                let inner = inner.strip_suffix('>')?;
                let (_, value) = inner.split_once(',')?;
                let value: String = value.chars().filter(|c| !c.is_whitespace()).collect();
                is_type_name(&value).then_some(value)
            })
            .unwrap_or_else(|| format!(".{full_name}"))
    }

    /// The source text at the span recorded for `path + [suffix]`, whitespace removed
    /// except for a map's inner `<...>` which the caller trims.
    fn written(&self, path: &[i32], suffix: i32) -> Option<String> {
        let src = self.source?;
        let mut key = Vec::with_capacity(path.len() + 1);
        key.extend_from_slice(path);
        key.push(suffix);
        let span = self.spans.get(key.as_slice())?;
        let (sl, sc, el, ec) = match span {
            [l, c, e] => (*l, *c, *l, *e),
            [l, c, l2, e] => (*l, *c, *l2, *e),
            _ => return None,
        };
        let offset = |line: i32, col: i32| -> Option<usize> {
            let start = *self.line_starts.get(usize::try_from(line).ok()?)?;
            start.checked_add(usize::try_from(col).ok()?)
        };
        let text = src.get(offset(sl, sc)?..offset(el, ec)?)?;
        if text.starts_with("map") {
            return Some(text.trim().to_owned());
        }
        Some(text.chars().filter(|c| !c.is_whitespace()).collect())
    }

    fn field_options(
        &self,
        options: Option<&DynamicMessage>,
        raw: &prost_types::FieldDescriptorProto,
        kind: &Kind,
        name: &str,
    ) -> Vec<Opt> {
        let mut opts = options.map(|o| self.options(o, &[])).unwrap_or_default();
        if let Some(default) = &raw.default_value {
            if !self.proto3 {
                let value = match kind {
                    Kind::String => OptVal::Str(default.clone()),
                    // protoc stores bytes defaults already C-escaped.
                    Kind::Bytes => OptVal::Lit(format!("\"{default}\"")),
                    _ => OptVal::Lit(default.clone()),
                };
                opts.push(Opt::plain("default", value));
            }
        }
        if let Some(json) = &raw.json_name {
            if *json != default_json_name(name) {
                opts.push(Opt::plain("json_name", OptVal::Str(json.clone())));
            }
        }
        if self.normalize {
            opts.sort_by(|a, b| a.name.cmp(&b.name));
        }
        opts
    }

    fn enumeration(&self, e: &EnumDescriptor) -> String {
        let raw = e.enum_descriptor_proto();
        let mut sb = format!("enum {} {{", e.name());
        let options = self.options(&e.options(), &[]);
        let mut values: Vec<&prost_types::EnumValueDescriptorProto> = raw.value.iter().collect();
        if self.normalize {
            values.sort_by(|a, b| (a.number(), a.name()).cmp(&(b.number(), b.name())));
            // proto3 requires the first value to be zero; keep the text valid when
            // negative values would otherwise sort first.
            if self.proto3 {
                if let Some(pos) = values.iter().position(|v| v.number() == 0) {
                    let zero = values.remove(pos);
                    values.insert(0, zero);
                }
            }
        }
        if !options.is_empty() || !values.is_empty() {
            sb.push('\n');
        }
        for o in &options {
            sb.push_str(&indent(&self.option_statement(o)));
        }
        for v in values {
            let mut line = format!("{} = {}", v.name(), v.number());
            let opts = match (&v.options, e.get_value_by_name(v.name())) {
                (Some(_), Some(d)) => self.options(&d.options(), &[]),
                _ => Vec::new(),
            };
            if !opts.is_empty() {
                line.push(' ');
                line.push_str(&self.option_list(&opts));
            }
            line.push_str(";\n");
            sb.push_str(&indent(&line));
        }
        // Confluent's printer drops enum reservations; they are kept here so that the text
        // re-parses to the same descriptor.
        for r in self.reserved_lines(
            raw.reserved_range.iter().map(|r| (r.start(), r.end())),
            &raw.reserved_name,
        ) {
            sb.push_str(&indent(&r));
        }
        sb.push_str("}\n");
        sb
    }

    /// `reserved` statements from inclusive ranges and names: one statement per kind in
    /// the canonical form, one per value (numbers first, sorted) in the normalized form.
    fn reserved_lines(
        &self,
        ranges: impl Iterator<Item = (i32, i32)>,
        names: &[String],
    ) -> Vec<String> {
        let mut ranges: Vec<(i32, i32)> = ranges.collect();
        let range_text = |&(s, e): &(i32, i32)| {
            if s == e {
                s.to_string()
            } else {
                format!("{s} to {e}")
            }
        };
        let name_text = |n: &String| format!("\"{}\"", escape_str(n));
        if self.normalize {
            ranges.sort_by(|a, b| {
                a.0.cmp(&b.0)
                    .then_with(|| range_text(a).cmp(&range_text(b)))
            });
            let mut names: Vec<&String> = names.iter().collect();
            names.sort();
            ranges
                .iter()
                .map(|r| format!("reserved {};\n", range_text(r)))
                .chain(
                    names
                        .into_iter()
                        .map(|n| format!("reserved {};\n", name_text(n))),
                )
                .collect()
        } else {
            let mut out = Vec::new();
            if !ranges.is_empty() {
                let parts: Vec<String> = ranges.iter().map(range_text).collect();
                out.push(format!("reserved {};\n", parts.join(", ")));
            }
            if !names.is_empty() {
                let parts: Vec<String> = names.iter().map(name_text).collect();
                out.push(format!("reserved {};\n", parts.join(", ")));
            }
            out
        }
    }

    fn extends(&self, exts: Vec<ExtensionDescriptor>, depth: usize) -> String {
        // Grouped by extendee in order of first appearance, as Confluent groups them.
        let mut order: Vec<String> = Vec::new();
        let mut by_extendee: HashMap<String, Vec<ExtensionDescriptor>> = HashMap::new();
        for e in exts {
            let target = e.containing_message().full_name().to_owned();
            if !by_extendee.contains_key(&target) {
                order.push(target.clone());
            }
            by_extendee.entry(target).or_default().push(e);
        }
        let mut sb = String::new();
        for target in order {
            let Some(list) = by_extendee.get(&target) else {
                continue;
            };
            let name = list
                .first()
                .map(|e| self.type_ref(e.path(), 2, &target))
                .unwrap_or_else(|| format!(".{target}"));
            sb.push_str(&format!("extend {name} {{"));
            if !list.is_empty() {
                sb.push('\n');
                let mut list: Vec<&ExtensionDescriptor> = list.iter().collect();
                if self.normalize {
                    list.sort_by_key(|e| e.number());
                }
                for e in list {
                    sb.push_str(&indent(&self.extension(e, depth)));
                }
            }
            sb.push_str("}\n");
        }
        sb
    }

    fn service(&self, s: &ServiceDescriptor) -> String {
        let mut sb = format!("service {} {{", s.name());
        let options = self.options(&s.options(), &[]);
        if !options.is_empty() {
            sb.push('\n');
            for o in &options {
                sb.push_str(&indent(&self.option_statement(o)));
            }
        }
        let methods: Vec<_> = s.methods().collect();
        if !methods.is_empty() {
            sb.push('\n');
            for m in &methods {
                let input = self.type_ref(m.path(), 2, m.input().full_name());
                let output = self.type_ref(m.path(), 3, m.output().full_name());
                let mut line = format!(
                    "rpc {} ({}{input}) returns ({}{output})",
                    m.name(),
                    if m.is_client_streaming() {
                        "stream "
                    } else {
                        ""
                    },
                    if m.is_server_streaming() {
                        "stream "
                    } else {
                        ""
                    },
                );
                let opts = self.options(&m.options(), &[]);
                if !opts.is_empty() {
                    line.push_str(" {\n");
                    for o in &opts {
                        line.push_str(&indent(&self.option_statement(o)));
                    }
                    line.push('}');
                }
                line.push_str(";\n");
                sb.push_str(&indent(&line));
            }
        }
        sb.push_str("}\n");
        sb
    }

    // ---- options -------------------------------------------------------------------------

    /// The options set in an `*Options` message, one entry per value (repeated options are
    /// written once per element), known options first in field-number order, then custom
    /// ones. Normalized: sorted by name.
    fn options(&self, msg: &DynamicMessage, skip: &[&str]) -> Vec<Opt> {
        let mut out = Vec::new();
        for (fd, v) in msg.fields() {
            if fd.name() == "uninterpreted_option" || skip.contains(&fd.name()) {
                continue;
            }
            push_values(&mut out, fd.name(), false, &fd.kind(), v, 0);
        }
        for (ext, v) in msg.extensions() {
            push_values(&mut out, ext.full_name(), true, &ext.kind(), v, 0);
        }
        if self.normalize {
            out.sort_by(|a, b| a.name.cmp(&b.name));
        }
        out
    }

    fn option_statement(&self, o: &Opt) -> String {
        format!("option {};\n", self.option_text(o))
    }

    fn option_list(&self, opts: &[Opt]) -> String {
        if let [only] = opts {
            return format!("[{}]", self.option_text(only));
        }
        let mut sb = String::from("[\n");
        for (i, o) in opts.iter().enumerate() {
            let sep = if i + 1 < opts.len() { "," } else { "" };
            sb.push_str(&indent(&format!("{}{sep}", self.option_text(o))));
        }
        sb.push(']');
        sb
    }

    fn option_text(&self, o: &Opt) -> String {
        let name = if o.parenthesized {
            format!("({})", o.name)
        } else {
            o.name.clone()
        };
        match &o.value {
            OptVal::Map(entries) => format!("{name} = {{\n{}}}", self.option_map(entries)),
            other => format!("{name} = {}", self.option_value(other)),
        }
    }

    fn option_map(&self, entries: &[(String, OptVal)]) -> String {
        let mut refs: Vec<&(String, OptVal)> = entries.iter().collect();
        if self.normalize {
            refs.sort_by(|a, b| a.0.cmp(&b.0));
        }
        let mut sb = String::new();
        for (i, (k, v)) in refs.iter().enumerate() {
            let sep = if i + 1 < refs.len() { "," } else { "" };
            sb.push_str(&indent(&format!("{k}: {}{sep}", self.option_value(v))));
        }
        sb
    }

    fn option_value(&self, v: &OptVal) -> String {
        match v {
            OptVal::Str(s) => format!("\"{}\"", escape_str(s)),
            OptVal::Bytes(b) => format!("\"{}\"", escape_bytes(b)),
            OptVal::Lit(l) => l.clone(),
            OptVal::Map(entries) => format!("{{\n{}}}", self.option_map(entries)),
            OptVal::List(items) => {
                let mut sb = String::from("[\n");
                for (i, item) in items.iter().enumerate() {
                    let sep = if i + 1 < items.len() { "," } else { "" };
                    sb.push_str(&indent(&format!("{}{sep}", self.option_value(item))));
                }
                sb.push(']');
                sb
            }
        }
    }
}

/// One option as Confluent's printer models it.
struct Opt {
    /// The name without parentheses; also the sort key of the normalized form.
    name: String,
    parenthesized: bool,
    value: OptVal,
}

impl Opt {
    fn plain(name: &str, value: OptVal) -> Opt {
        Opt {
            name: name.to_owned(),
            parenthesized: false,
            value,
        }
    }
}

enum OptVal {
    Str(String),
    Bytes(Vec<u8>),
    /// Booleans, numbers and enum value names: printed as they are.
    Lit(String),
    /// A message value in text format: `{ key: value, ... }`.
    Map(Vec<(String, OptVal)>),
    List(Vec<OptVal>),
}

fn push_values(out: &mut Vec<Opt>, name: &str, paren: bool, kind: &Kind, v: &Value, depth: usize) {
    match v {
        Value::List(items) => {
            for item in items {
                out.push(Opt {
                    name: name.to_owned(),
                    parenthesized: paren,
                    value: convert(kind, item, depth),
                });
            }
        }
        other => out.push(Opt {
            name: name.to_owned(),
            parenthesized: paren,
            value: convert(kind, other, depth),
        }),
    }
}

fn convert(kind: &Kind, v: &Value, depth: usize) -> OptVal {
    if depth > MAX_DEPTH {
        return OptVal::Map(Vec::new());
    }
    match v {
        Value::Bool(b) => OptVal::Lit(b.to_string()),
        Value::I32(n) => OptVal::Lit(n.to_string()),
        Value::I64(n) => OptVal::Lit(n.to_string()),
        Value::U32(n) => OptVal::Lit(n.to_string()),
        Value::U64(n) => OptVal::Lit(n.to_string()),
        Value::F32(x) => OptVal::Lit(float_text(f64::from(*x), format!("{x:?}"))),
        Value::F64(x) => OptVal::Lit(float_text(*x, format!("{x:?}"))),
        Value::String(s) => OptVal::Str(s.clone()),
        Value::Bytes(b) => OptVal::Bytes(b.to_vec()),
        Value::EnumNumber(n) => match kind {
            Kind::Enum(e) => OptVal::Lit(
                e.get_value(*n)
                    .map(|v| v.name().to_owned())
                    .unwrap_or_else(|| n.to_string()),
            ),
            _ => OptVal::Lit(n.to_string()),
        },
        Value::Message(m) => OptVal::Map(message_entries(m, depth + 1)),
        Value::List(items) => {
            OptVal::List(items.iter().map(|i| convert(kind, i, depth + 1)).collect())
        }
        Value::Map(map) => {
            let (key_kind, value_kind) = match kind {
                Kind::Message(entry) => (
                    entry.map_entry_key_field().kind(),
                    entry.map_entry_value_field().kind(),
                ),
                _ => (Kind::String, Kind::String),
            };
            let mut entries: Vec<(&MapKey, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            OptVal::List(
                entries
                    .into_iter()
                    .map(|(k, v)| {
                        OptVal::Map(vec![
                            (
                                "key".to_owned(),
                                convert(&key_kind, &map_key_value(k), depth + 1),
                            ),
                            ("value".to_owned(), convert(&value_kind, v, depth + 1)),
                        ])
                    })
                    .collect(),
            )
        }
    }
}

fn message_entries(m: &DynamicMessage, depth: usize) -> Vec<(String, OptVal)> {
    let mut out = Vec::new();
    for (fd, v) in m.fields() {
        out.push((fd.name().to_owned(), convert(&fd.kind(), v, depth)));
    }
    for (ext, v) in m.extensions() {
        out.push((
            format!("[{}]", ext.full_name()),
            convert(&ext.kind(), v, depth),
        ));
    }
    out
}

fn map_key_value(k: &MapKey) -> Value {
    match k {
        MapKey::Bool(b) => Value::Bool(*b),
        MapKey::I32(n) => Value::I32(*n),
        MapKey::I64(n) => Value::I64(*n),
        MapKey::U32(n) => Value::U32(*n),
        MapKey::U64(n) => Value::U64(*n),
        MapKey::String(s) => Value::String(s.clone()),
    }
}

fn float_text(x: f64, debug: String) -> String {
    if x.is_nan() {
        "nan".to_owned()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.to_owned()
    } else {
        debug
    }
}

/// The fields of `m` in declaration order.
fn fields_in_order(m: &MessageDescriptor) -> Vec<FieldDescriptor> {
    m.descriptor_proto()
        .field
        .iter()
        .filter_map(|raw| {
            u32::try_from(raw.number())
                .ok()
                .and_then(|n| m.get_field(n))
        })
        .collect()
}

/// Full names of the message types that extension groups declare (printed inline).
fn group_types(exts: impl Iterator<Item = ExtensionDescriptor>) -> HashSet<String> {
    exts.filter(|e| e.is_group())
        .filter_map(|e| match e.kind() {
            Kind::Message(g) => Some(g.full_name().to_owned()),
            _ => None,
        })
        .collect()
}

/// protoc's default JSON name: underscores removed, the letter after each one upper-cased.
pub(crate) fn default_json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether the first statement of `source` (after comments and whitespace) is `syntax`.
fn starts_with_syntax(source: &str) -> bool {
    let mut rest = source.trim_start_matches('\u{feff}');
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("//") {
            rest = r.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, after)| after);
        } else {
            return rest.starts_with("syntax");
        }
    }
}

fn is_type_name(t: &str) -> bool {
    !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && !t.ends_with('.')
}

/// Adds two spaces before every line of `value` (Confluent's `appendIndented`: trailing
/// empty lines are dropped, inner blank lines are indented too).
pub(crate) fn indent(value: &str) -> String {
    let trimmed = value.trim_end_matches('\n');
    let mut sb = String::with_capacity(value.len() + 16);
    for line in trimmed.split('\n') {
        sb.push_str("  ");
        sb.push_str(line);
        sb.push('\n');
    }
    sb
}

/// Confluent's `escapeChars`, plus octal escapes for the remaining control characters so
/// that the text always re-parses.
pub(crate) fn escape_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\{:03o}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

fn escape_bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for &byte in b {
        match byte {
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            b'"' => out.push_str("\\\""),
            0x20..=0x7e => out.push(char::from(byte)),
            _ => out.push_str(&format!("\\{byte:03o}")),
        }
    }
    out
}
