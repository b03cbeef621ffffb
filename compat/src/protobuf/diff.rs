//! Confluent's Protobuf `SchemaDiff`, restricted to the difference types that make a change
//! incompatible (the compatible ones would be discarded by the caller anyway).
//!
//! Confluent compares a message in four passes over hash maps (new oneofs, same-named
//! oneofs, top-level fields, fields whose oneof membership changed). Every tag present in
//! both versions is compared exactly once in those passes, so here one merge of the two
//! tag-sorted field lists does the same work without allocating; the per-tag rules below
//! say which of Confluent's passes each outcome comes from (which also decides the path of
//! Confluent's message: `#/Msg/oneof/tag` from `OneOfDiff`, `#/Msg/tag` otherwise).
//!
//! Sources (confluentinc/schema-registry, `protobuf-provider/.../protobuf/diff/`):
//! `MessageSchemaDiff` (the oneof membership rule with its `originGroups`, the by-tag
//! pass), `OneOfDiff` (a member absent from the whole new message is `ONEOF_FIELD_REMOVED`),
//! `FieldSchemaDiff`, `SchemaDiff.COMPATIBLE_CHANGES`, `Context` (paths) and `Difference`
//! (message texts).

use super::model::{Label, Model, Msg, ScalarGroup, Ty, TyKind, TyView};
use crate::{Budget, Incompatibility, TooComplex};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Recursion into same-named types from references stops this deep; chains of distinct
/// referenced message types longer than this are not realistic schemas (and a cut-off
/// comparison is reported as compatible rather than overflowing the stack).
const MAX_TYPE_DEPTH: usize = 256;

/// Every incompatibility of `new` reading `old`; `Err` when `budget` runs out first
/// (each message pair compared costs one step per field).
pub(crate) fn backward(
    old: &Model,
    new: &Model,
    budget: &mut Budget,
) -> Result<Vec<Incompatibility>, TooComplex> {
    let mut d = Diff {
        old,
        new,
        out: Vec::new(),
        memo: HashMap::new(),
        stack: Vec::new(),
        budget,
        stop: None,
    };
    if old.package != new.package {
        let path = if new.package.is_empty() {
            old.package.clone()
        } else {
            new.package.clone()
        };
        d.out.push(
            Incompatibility::new(
                "PACKAGE_CHANGED",
                path,
                format!(
                    "The package changed from '{}' to '{}'",
                    old.package, new.package
                ),
            )
            .with_confluent(confluent("PACKAGE_CHANGED", "#/")),
        );
    }
    let mut out = Vec::new();
    d.type_lists(&old.top, &new.top, &mut out);
    if let Some(e) = d.stop {
        return Err(e);
    }
    d.out.extend(out);
    Ok(d.out)
}

fn message_removed(om: &Msg) -> Incompatibility {
    Incompatibility::new(
        "MESSAGE_REMOVED",
        om.full_name.clone(),
        format!("Message '{}' is missing in the new schema", om.full_name),
    )
    .with_confluent(confluent("MESSAGE_REMOVED", &format!("#/{}", om.local)))
}

/// Confluent's verbose message for an incompatible difference: its protobuf
/// `Difference.toString()` (`{errorType:"...", description:"..."}`), with the two `%s` of
/// the description filled in as `SchemaValidatorBuilder` does for a backward check (the
/// reader is the "new" schema, the writer the "old" one; see
/// [`super::confluent_for_direction`] for the forward wording). `path` is Confluent's
/// `Context` path: `#/` then the message names below the package, the oneof name where the
/// difference comes from `OneOfDiff`, and the field's tag.
pub(crate) fn confluent(kind: &str, path: &str) -> String {
    confluent_worded(kind, path, "new", "old")
}

/// [`confluent`] with the reader and writer named as given.
pub(crate) fn confluent_worded(kind: &str, path: &str, reader: &str, writer: &str) -> String {
    let (r, w) = (reader, writer);
    let description = match kind {
        "PACKAGE_CHANGED" => format!(
            "The package at '{path}' in the {r} schema does not match the package in the {w} schema"
        ),
        "MESSAGE_REMOVED" => {
            format!("The {r} schema is missing a MESSAGE type at path '{path}' in the {w} schema")
        }
        "FIELD_KIND_CHANGED" => format!(
            "The type of a field at path '{path}' in the {r} schema does not match the {w} schema"
        ),
        "FIELD_SCALAR_KIND_CHANGED" => format!(
            "The kind of a SCALAR field at path '{path}' in the {r} schema does not match its kind in the {w} schema"
        ),
        "FIELD_NAMED_TYPE_CHANGED" => format!(
            "The type of a MESSAGE field at path '{path}' in the {r} schema does not match its type in the {w} schema"
        ),
        "FIELD_NUMERIC_LABEL_CHANGED" => format!(
            "The label for a NUMERIC field at path '{path}' in the {r} schema does not match its label in the {w} schema"
        ),
        // Confluent's text has the double space.
        "REQUIRED_FIELD_ADDED" => format!(
            "A required field  at path '{path}' in the {r} schema is missing in the {w} schema"
        ),
        "REQUIRED_FIELD_REMOVED" => format!(
            "The {r} schema is missing a required field at path: '{path}' in the {w} schema"
        ),
        "ONEOF_FIELD_REMOVED" => {
            format!("The {r} schema is missing a oneof field at path '{path}' in the {w} schema")
        }
        "MULTIPLE_FIELDS_MOVED_TO_ONEOF" => format!(
            "Multiple fields in the oneof at path '{path}' in the {r} schema are outside a oneof in the {w} schema"
        ),
        "FIELD_MOVED_TO_EXISTING_ONEOF" => format!(
            "A field in the oneof at path '{path}' in the {r} schema is outside an existing oneof in the {w} schema"
        ),
        _ => String::new(),
    };
    format!("{{errorType:\"{kind}\", description:\"{description}\"}}")
}

/// Where the members of a new oneof came from: one origin "group" per old oneof and per
/// old top-level field (Confluent's `originGroups`).
#[derive(Debug, Clone, Default)]
struct Origins {
    /// Old oneofs (indexes) that contributed members.
    oneofs: Vec<u16>,
    /// Members that were top-level fields in the old message.
    top_level: usize,
}

impl Origins {
    fn add(&mut self, old_oneof: Option<u16>) {
        match old_oneof {
            Some(x) if !self.oneofs.contains(&x) => self.oneofs.push(x),
            Some(_) => {}
            None => self.top_level += 1,
        }
    }

    fn groups(&self) -> usize {
        self.oneofs.len() + self.top_level
    }
}

struct Diff<'a, 'b> {
    old: &'a Model,
    new: &'a Model,
    budget: &'b mut Budget,
    /// Set when the budget ran out: the comparison stops.
    stop: Option<TooComplex>,
    out: Vec<Incompatibility>,
    /// Whether a pair of same-named referenced types was found compatible; their own
    /// differences are reported only the first time the pair is compared.
    memo: HashMap<(usize, usize), bool>,
    /// The message pairs being compared, innermost last (Confluent's `SchemaScope`).
    stack: Vec<(usize, usize)>,
}

/// Where a field-level difference is: `base.name` plus an optional `.key`/`.value`, and
/// Confluent's `#/msg[/oneof]/tag`; both built only when something is reported.
#[derive(Clone, Copy)]
struct At<'p> {
    base: &'p str,
    name: &'p str,
    suffix: &'static str,
    /// The message's Confluent path ([`Msg::local`]).
    cmsg: &'p str,
    /// The oneof, when Confluent compares the field inside `OneOfDiff`.
    coneof: Option<&'p str>,
    tag: u32,
}

impl At<'_> {
    fn path(&self) -> String {
        let mut s = String::with_capacity(self.base.len() + self.name.len() + 8);
        let _ = write!(s, "{}.{}{}", self.base, self.name, self.suffix);
        s
    }

    fn confluent(&self, kind: &str) -> String {
        let path = match self.coneof {
            Some(oneof) => format!("#/{}/{oneof}/{}", self.cmsg, self.tag),
            None => format!("#/{}/{}", self.cmsg, self.tag),
        };
        confluent(kind, &path)
    }
}

impl<'a> Diff<'a, '_> {
    fn messages(&mut self, oi: usize, ni: usize, out: &mut Vec<Incompatibility>) {
        let (old, new) = (self.old, self.new);
        let (Some(o), Some(n)) = (old.msg(oi), new.msg(ni)) else {
            return;
        };
        if self.stop.is_some() || self.stack.contains(&(oi, ni)) {
            return;
        }
        let cost = 1 + o.fields.len() + n.fields.len() + o.nested.len();
        if let Err(e) = self.budget.spend(cost as u64) {
            self.stop = Some(e);
            return;
        }
        self.stack.push((oi, ni));
        self.fields(o, n, out);
        self.type_lists(&o.nested, &n.nested, out);
        self.stack.pop();
    }

    /// Messages are matched by simple name within one nesting level. Versions usually keep
    /// the order, so the same position is tried first; otherwise a scan, or a map for long
    /// lists.
    fn type_lists(&mut self, olds: &[usize], news: &[usize], out: &mut Vec<Incompatibility>) {
        let (old, new) = (self.old, self.new);
        let name_of = |i: usize| new.msg(i).map(|m| m.name_hash);
        let index: Option<HashMap<u64, usize>> = (news.len() > 16).then(|| {
            news.iter()
                .filter_map(|&i| name_of(i).map(|h| (h, i)))
                .collect()
        });
        for (pos, &oc) in olds.iter().enumerate() {
            let Some(ocm) = old.msg(oc) else { continue };
            let found = match news.get(pos) {
                Some(&nc) if name_of(nc) == Some(ocm.name_hash) => Some(nc),
                _ => match &index {
                    Some(map) => map.get(&ocm.name_hash).copied(),
                    None => news
                        .iter()
                        .copied()
                        .find(|&nc| name_of(nc) == Some(ocm.name_hash)),
                },
            };
            match found {
                Some(nc) => self.messages(oc, nc, out),
                None => out.push(message_removed(ocm)),
            }
        }
    }

    fn fields(&mut self, o: &'a Msg, n: &'a Msg, out: &mut Vec<Incompatibility>) {
        let base = n.full_name.as_str();
        let cmsg = n.local.as_str();
        // For each old oneof, the new oneof of the same name (Confluent matches oneofs by
        // name only); per new oneof, where its members came from.
        let old_to_new: Vec<Option<usize>> = o
            .oneof_hashes
            .iter()
            .map(|h| n.oneof_hashes.iter().position(|x| x == h))
            .collect();
        let mut origins: Vec<Origins> = vec![Origins::default(); n.oneofs.len()];

        let (mut i, mut j) = (0, 0);
        loop {
            let (of, nf) = match (o.fields.get(i), n.fields.get(j)) {
                (None, None) => break,
                (Some(of), Some(nf)) if of.number == nf.number => {
                    i += 1;
                    j += 1;
                    (Some(of), Some(nf))
                }
                (Some(of), Some(nf)) if of.number < nf.number => {
                    i += 1;
                    (Some(of), None)
                }
                (Some(of), None) => {
                    i += 1;
                    (Some(of), None)
                }
                (_, Some(nf)) => {
                    j += 1;
                    (None, Some(nf))
                }
            };
            match (of, nf) {
                (Some(of), Some(nf)) => {
                    // Confluent compares a field once: inside `OneOfDiff` when it is a
                    // member of a same-named oneof in both versions (path
                    // `#/Msg/oneof/tag`), else by tag at message level (`#/Msg/tag`).
                    let mut coneof = None;
                    match (of.oneof, nf.oneof) {
                        (old_oneof, Some(u)) => {
                            if let Some(origin) = origins.get_mut(usize::from(u)) {
                                origin.add(old_oneof);
                            }
                            if let Some(x) = old_oneof {
                                if old_to_new.get(usize::from(x)).copied().flatten()
                                    == Some(usize::from(u))
                                {
                                    coneof = n.oneofs.get(usize::from(u)).map(String::as_str);
                                }
                            }
                        }
                        // Out of a oneof to the top level: a field Confluent's top-level
                        // pass sees as added, so a required one is reported.
                        (Some(_), None) if nf.label == Label::Required => {
                            out.push(required_added(n, j - 1, base));
                        }
                        _ => {}
                    }
                    let at = At {
                        base,
                        name: n.field_names.get(j - 1).map(String::as_str).unwrap_or("?"),
                        suffix: "",
                        cmsg,
                        coneof,
                        tag: nf.number,
                    };
                    self.labels_and_types(of.label, nf.label, &of.view, &nf.view, at, out);
                }
                (Some(of), None) => {
                    let name = o.field_names.get(i - 1).map(String::as_str).unwrap_or("?");
                    match of.oneof.map(usize::from) {
                        // A member deleted from a oneof that still exists (by name);
                        // deleting the whole oneof is compatible (`ONEOF_REMOVED`).
                        Some(x) if old_to_new.get(x).copied().flatten().is_some() => {
                            let oneof = o.oneofs.get(x).map(String::as_str).unwrap_or_default();
                            let cpath = format!("#/{cmsg}/{oneof}/{}", of.number);
                            out.push(
                                Incompatibility::new(
                                    "ONEOF_FIELD_REMOVED",
                                    format!("{base}.{name}"),
                                    format!(
                                        "Field '{name}' (tag {}) of oneof '{oneof}' in '{base}' was removed while the oneof remains",
                                        of.number
                                    ),
                                )
                                .with_confluent(confluent("ONEOF_FIELD_REMOVED", &cpath)),
                            );
                        }
                        Some(_) => {}
                        None if of.label == Label::Required => {
                            let cpath = format!("#/{cmsg}/{}", of.number);
                            out.push(
                                Incompatibility::new(
                                    "REQUIRED_FIELD_REMOVED",
                                    format!("{base}.{name}"),
                                    format!(
                                        "Required field '{name}' (tag {}) of '{base}' was removed",
                                        of.number
                                    ),
                                )
                                .with_confluent(confluent("REQUIRED_FIELD_REMOVED", &cpath)),
                            );
                        }
                        None => {}
                    }
                }
                (None, Some(nf)) => {
                    if nf.oneof.is_none() && nf.label == Label::Required {
                        out.push(required_added(n, j - 1, base));
                    }
                }
                (None, None) => {}
            }
        }

        // Confluent's membership rule: the fields already in a new oneof must have been
        // mutually exclusive before, i.e. come from one "group" (one old oneof, or one old
        // top-level field); brand-new members do not count.
        for (u, origin) in origins.iter().enumerate() {
            if origin.groups() < 2 {
                continue;
            }
            let name = n.oneofs.get(u).map(String::as_str).unwrap_or_default();
            let cpath = format!("#/{cmsg}/{name}");
            let members = members_origins(o, n, u);
            let found = if origin.top_level > 1 {
                Incompatibility::new(
                    "MULTIPLE_FIELDS_MOVED_TO_ONEOF",
                    format!("{base}.{name}"),
                    format!(
                        "Oneof '{name}' of '{base}' holds {} fields that were outside any oneof and could be set together ({members})",
                        origin.top_level
                    ),
                )
            } else {
                Incompatibility::new(
                    "FIELD_MOVED_TO_EXISTING_ONEOF",
                    format!("{base}.{name}"),
                    format!(
                        "Oneof '{name}' of '{base}' joins fields that could be set together in the old schema ({members})"
                    ),
                )
            };
            let kind = found.kind.clone();
            out.push(found.with_confluent(confluent(&kind, &cpath)));
        }
    }

    fn labels_and_types(
        &mut self,
        old_label: Label,
        new_label: Label,
        ov: &TyView,
        nv: &TyView,
        at: At<'_>,
        out: &mut Vec<Incompatibility>,
    ) {
        let (old, new) = (self.old, self.new);
        if ov.kind != nv.kind {
            let path = at.path();
            out.push(
                Incompatibility::new(
                    "FIELD_KIND_CHANGED",
                    path.clone(),
                    format!(
                        "Field '{path}' changed kind: {} ({}) became {} ({})",
                        kind_word(ov.kind),
                        old.describe(ov),
                        kind_word(nv.kind),
                        new.describe(nv)
                    ),
                )
                .with_confluent(at.confluent("FIELD_KIND_CHANGED")),
            );
            return;
        }
        match ov.kind {
            TyKind::Map => {
                if let (Some(Ty::Map(okey, oval)), Some(Ty::Map(nkey, nval))) =
                    (old.ty(ov), new.ty(nv))
                {
                    let key_at = At {
                        suffix: ".key",
                        ..at
                    };
                    self.labels_and_types(Label::None, Label::None, okey, nkey, key_at, out);
                    let value_at = At {
                        suffix: ".value",
                        ..at
                    };
                    self.labels_and_types(Label::None, Label::None, oval, nval, value_at, out);
                }
            }
            TyKind::Message => self.message_types(ov, nv, at, out),
            TyKind::Scalar => {
                if ov.group != nv.group {
                    let path = at.path();
                    out.push(
                        Incompatibility::new(
                            "FIELD_SCALAR_KIND_CHANGED",
                            path.clone(),
                            format!(
                                "Field '{path}' changed type from {} to {}, which encode differently",
                                old.describe(ov),
                                new.describe(nv)
                            ),
                        )
                        .with_confluent(at.confluent("FIELD_SCALAR_KIND_CHANGED")),
                    );
                } else if old_label != Label::None
                    && new_label != Label::None
                    && old_label != new_label
                    && ov.group != Some(ScalarGroup::StringOrBytes)
                {
                    let path = at.path();
                    out.push(
                        Incompatibility::new(
                            "FIELD_NUMERIC_LABEL_CHANGED",
                            path.clone(),
                            format!(
                                "Numeric field '{path}' changed label from {} to {}",
                                label_word(old_label),
                                label_word(new_label)
                            ),
                        )
                        .with_confluent(at.confluent("FIELD_NUMERIC_LABEL_CHANGED")),
                    );
                }
            }
        }
    }

    /// Message-typed fields: the local names (full name minus package) must match; types
    /// from different definitions (a reference text, or the schema versus a reference) are
    /// then diffed recursively, once per pair.
    fn message_types(
        &mut self,
        ov: &TyView,
        nv: &TyView,
        at: At<'_>,
        out: &mut Vec<Incompatibility>,
    ) {
        let (old, new) = (self.old, self.new);
        if ov.local != nv.local {
            out.push(named_type_changed(
                &at,
                &old.describe(ov),
                &new.describe(nv),
            ));
            return;
        }
        if ov.origin == nv.origin {
            // Both in the main file (compared by the main walk) or both from one file text.
            return;
        }
        let (Some((oi, _)), Some((ni, _))) = (old.msg_of(ov), new.msg_of(nv)) else {
            return;
        };
        let compatible = match self.memo.get(&(oi, ni)) {
            Some(&c) => c,
            None if self.stack.contains(&(oi, ni)) || self.stack.len() >= MAX_TYPE_DEPTH => true,
            None => {
                let mut sub = Vec::new();
                self.messages(oi, ni, &mut sub);
                let c = sub.is_empty();
                self.memo.insert((oi, ni), c);
                self.out.extend(sub);
                c
            }
        };
        if !compatible {
            let path = at.path();
            out.push(
                Incompatibility::new(
                    "FIELD_NAMED_TYPE_CHANGED",
                    path.clone(),
                    format!(
                        "Field '{path}' has type '{}', which is not compatible with the old '{}'",
                        new.describe(nv),
                        old.describe(ov)
                    ),
                )
                .with_confluent(at.confluent("FIELD_NAMED_TYPE_CHANGED")),
            );
        }
    }
}

fn required_added(n: &Msg, index: usize, base: &str) -> Incompatibility {
    let name = n.field_names.get(index).map(String::as_str).unwrap_or("?");
    let number = n.fields.get(index).map(|f| f.number).unwrap_or(0);
    Incompatibility::new(
        "REQUIRED_FIELD_ADDED",
        format!("{base}.{name}"),
        format!("Required field '{name}' (tag {number}) was added to '{base}'"),
    )
    .with_confluent(confluent(
        "REQUIRED_FIELD_ADDED",
        &format!("#/{}/{number}", n.local),
    ))
}

fn named_type_changed(at: &At<'_>, on: &str, nn: &str) -> Incompatibility {
    let path = at.path();
    Incompatibility::new(
        "FIELD_NAMED_TYPE_CHANGED",
        path.clone(),
        format!("Field '{path}' changed message type from '{on}' to '{nn}'"),
    )
    .with_confluent(at.confluent("FIELD_NAMED_TYPE_CHANGED"))
}

/// The members of new oneof `u` that existed in `o`, each with where it was: `'card' (a
/// field outside any oneof)`, `'iban' (oneof 'method')`.
fn members_origins(o: &Msg, n: &Msg, u: usize) -> String {
    n.fields
        .iter()
        .zip(&n.field_names)
        .filter(|(f, _)| f.oneof.map(usize::from) == Some(u))
        .filter_map(|(f, name)| {
            let old = o
                .fields
                .binary_search_by_key(&f.number, |x| x.number)
                .ok()
                .and_then(|i| o.fields.get(i))?;
            Some(match old.oneof.and_then(|x| o.oneofs.get(usize::from(x))) {
                Some(oneof) => format!("'{name}' (oneof '{oneof}')"),
                None => format!("'{name}' (a field outside any oneof)"),
            })
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn kind_word(k: TyKind) -> &'static str {
    match k {
        TyKind::Scalar => "scalar",
        TyKind::Message => "message",
        TyKind::Map => "map",
    }
}

fn label_word(l: Label) -> &'static str {
    match l {
        Label::None => "none",
        Label::Optional => "optional",
        Label::Required => "required",
        Label::Repeated => "repeated",
    }
}
