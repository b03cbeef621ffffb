//! What a schema declares, for people: its messages, enums, oneofs and fields with the
//! comments written at them and Confluent's `confluent.*_meta` doc and tags, in
//! declaration order. The catalog indexes this.
//!
//! Everything is read from the compiled descriptor: names and nesting from the
//! descriptors, comments from the source info the compiler records, as protoc attaches
//! them: a declaration's leading comment block, the comment trailing it on its line (not
//! when more code follows on that line: such a comment belongs to nothing), and apart
//! from those the blocks before it that a blank line separates from it ("detached"; a
//! licence header above `syntax` is the syntax statement's, so no declaration's).
//! Meta options are read from the interpreted
//! options, whichever way they were written (`[(confluent.field_meta) = { tags: [...] }]`
//! or `[(confluent.field_meta).tags = "..."]`, over as many lines as the author liked).
//! A schema registered as a base64 descriptor has no source info, hence no comments.

use prost_reflect::{
    DynamicMessage, EnumDescriptor, FieldDescriptor, FileDescriptor, MessageDescriptor, Value,
};
use prost_types::source_code_info::Location;
use std::collections::HashMap;

/// What a [`Declaration`] declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclarationKind {
    Message,
    Enum,
    /// A oneof (its members follow it as [`DeclarationKind::Field`]s).
    Oneof,
    /// A message field, map fields and oneof members included.
    Field,
}

/// One declaration of a schema, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    pub kind: DeclarationKind,
    /// The name as declared (`order_id`, `Line`).
    pub name: String,
    /// Messages and enums: the fully qualified name (`acme.Order.Line`); oneofs and
    /// fields: their message's full name, a dot and their name.
    pub full_name: String,
    /// The comments at the declaration: the leading block, then the trailing comment,
    /// each with comment markers and the ` * ` margins of block comments removed and its
    /// lines joined by spaces. Empty comments are left out.
    pub comments: Vec<String>,
    /// Comment blocks before the leading one, separated from the declaration by a blank
    /// line (protoc documents nothing with them), cleaned the same way.
    pub detached_comments: Vec<String>,
    /// The `doc` of its `confluent.*_meta` option, if not empty.
    pub meta_doc: Option<String>,
    /// The `tags` of its `confluent.*_meta` option.
    pub tags: Vec<String>,
}

/// The declarations of the file, depth first: a message, its oneofs and fields (a oneof
/// just before its first member), its nested messages, its nested enums; then the
/// file's top-level enums. Map entry messages (which the compiler synthesises) are left
/// out.
pub(crate) fn outline(file: &FileDescriptor) -> Vec<Declaration> {
    let locations: HashMap<&[i32], &Location> = file
        .file_descriptor_proto()
        .source_code_info
        .iter()
        .flat_map(|info| info.location.iter())
        .map(|l| (l.path.as_slice(), l))
        .collect();
    let mut w = Walker {
        locations,
        out: Vec::new(),
    };
    for m in file.messages() {
        w.message(&m);
    }
    for e in file.enums() {
        w.enumeration(&e);
    }
    w.out
}

struct Walker<'a> {
    locations: HashMap<&'a [i32], &'a Location>,
    out: Vec<Declaration>,
}

impl Walker<'_> {
    fn push(
        &mut self,
        kind: DeclarationKind,
        name: &str,
        full_name: String,
        path: &[i32],
        options: Option<(DynamicMessage, &str)>,
    ) {
        let location = self.locations.get(path);
        let cleaned = |comments: Vec<&String>| -> Vec<String> {
            comments
                .into_iter()
                .map(|c| clean_comment(c))
                .filter(|c| !c.is_empty())
                .collect()
        };
        let comments = cleaned(location.map_or_else(Vec::new, |l| {
            [&l.leading_comments, &l.trailing_comments]
                .into_iter()
                .flatten()
                .collect()
        }));
        let detached_comments = cleaned(
            location.map_or_else(Vec::new, |l| l.leading_detached_comments.iter().collect()),
        );
        let (meta_doc, tags) = options.map(|(o, ext)| meta(&o, ext)).unwrap_or_default();
        self.out.push(Declaration {
            kind,
            name: name.to_owned(),
            full_name,
            comments,
            detached_comments,
            meta_doc,
            tags,
        });
    }

    fn message(&mut self, m: &MessageDescriptor) {
        if m.is_map_entry() {
            return;
        }
        self.push(
            DeclarationKind::Message,
            m.name(),
            m.full_name().to_owned(),
            m.path(),
            Some((m.options(), "confluent.message_meta")),
        );
        let mut oneofs_seen: Vec<String> = Vec::new();
        // `fields()` is in declaration order.
        for f in m.fields() {
            if let Some(o) = f.containing_oneof().filter(|o| !o.is_synthetic()) {
                if !oneofs_seen.iter().any(|n| n == o.name()) {
                    oneofs_seen.push(o.name().to_owned());
                    self.push(
                        DeclarationKind::Oneof,
                        o.name(),
                        format!("{}.{}", m.full_name(), o.name()),
                        o.path(),
                        None,
                    );
                }
            }
            self.field(m, &f);
        }
        for child in m.child_messages() {
            self.message(&child);
        }
        for e in m.child_enums() {
            self.enumeration(&e);
        }
    }

    fn field(&mut self, m: &MessageDescriptor, f: &FieldDescriptor) {
        self.push(
            DeclarationKind::Field,
            f.name(),
            format!("{}.{}", m.full_name(), f.name()),
            f.path(),
            Some((f.options(), "confluent.field_meta")),
        );
    }

    fn enumeration(&mut self, e: &EnumDescriptor) {
        self.push(
            DeclarationKind::Enum,
            e.name(),
            e.full_name().to_owned(),
            e.path(),
            Some((e.options(), "confluent.enum_meta")),
        );
    }
}

/// `doc` and `tags` of the `ext` extension (a `confluent.Meta`) set in `options`.
fn meta(options: &DynamicMessage, ext: &str) -> (Option<String>, Vec<String>) {
    let Some((_, Value::Message(m))) = options.extensions().find(|(e, _)| e.full_name() == ext)
    else {
        return (None, Vec::new());
    };
    let doc = match m.get_field_by_name("doc").as_deref() {
        Some(Value::String(d)) if !d.trim().is_empty() => Some(d.trim().to_owned()),
        _ => None,
    };
    let tags = match m.get_field_by_name("tags").as_deref() {
        Some(Value::List(items)) => items
            .iter()
            .filter_map(|v| v.as_str())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    (doc, tags)
}

/// A comment as the compiler recorded it (`//` lines without their markers, block
/// comments without `/*` `*/`) as one line of text: each line trimmed and without the
/// `*` margin or extra slashes, joined by spaces.
fn clean_comment(c: &str) -> String {
    c.lines()
        .map(|l| l.trim().trim_start_matches(['*', '/']).trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
