//! The comparison: Confluent's `SchemaDiff` rules over two [`Model`]s.
//!
//! `compare(original, update)` walks both schemas together and lists every difference,
//! compatible or not, because several rules decide by asking "is this sub-comparison
//! compatible?" (a branch of a `oneOf`, a property covered by `patternProperties`, the
//! inside of a `not`). The caller keeps only the differences the policy refuses.
//!
//! A pair involving a `$ref` target is memoised by its two node indices, with paths
//! relative to the pair, so a definition reached along many paths is compared once, and
//! such a pair met again while it is still being compared is a recursive cycle, taken as
//! compatible (as Confluent does). Pairs of plain tree nodes are met once anyway and
//! skip the bookkeeping, which keeps a 500-property comparison well under a millisecond.

use super::kinds::{JsonPolicy, Kind};
use super::model::Fx;
use super::model::*;
use super::uri::{escape_token, unescape_token};
use crate::{Budget, TooComplex};
use std::collections::{HashMap, HashSet};

/// One difference; `path` is relative to the compared pair ("" is the pair itself) and
/// is an escaped JSON Pointer into the update (reader) schema.
#[derive(Debug, Clone)]
pub(crate) struct Diff {
    pub kind: Kind,
    pub path: String,
    /// The same place as Confluent's diff names it (its `Context` path), relative like
    /// `path`: property names unescaped, tuple items always `items/N`, items after the
    /// tuple always `additionalItems`, property dependencies always `dependencies/N`.
    pub cpath: String,
    pub message: String,
    /// Confluent's diff reports this finding too; `false` for Accord's own findings
    /// (see [`Diff::accord_only`]).
    pub confluent: bool,
}

impl Diff {
    /// Marks a finding Confluent's diff does not report (it reports another, or none).
    fn accord_only(mut self) -> Diff {
        self.confluent = false;
        self
    }
}

/// An escaped pointer with every token unescaped: what Confluent's paths look like.
fn raw_path(path: &str) -> String {
    if !path.contains('~') {
        return path.to_string();
    }
    path.split('/')
        .map(unescape_token)
        .collect::<Vec<_>>()
        .join("/")
}

/// A node of one of the two models: side 0 is the original (writer), 1 the update
/// (reader). `not` swaps the roles, so a comparison may have either side on either hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct H {
    side: u8,
    id: NodeId,
}

impl H {
    fn with(self, id: NodeId) -> H {
        H {
            side: self.side,
            id,
        }
    }
}

/// Deeper than this the comparison stops descending (as if it met a cycle). The
/// loader bounds each schema's nesting, so only pathological `$ref` webs get here.
const MAX_COMPARE_DEPTH: usize = 200;
/// Above this many subschema pairs in one `allOf`/`anyOf`/`oneOf` comparison, identical
/// subschemas are paired first and the rest position by position, to stay fast.
const MAX_COMBINED_PAIRS: usize = 50_000;
/// Longest `$ref` -> `$ref` chain followed (the loader rejects longer ones).
const MAX_DEREF: usize = 64;

/// Compares `old` (writer) with `new` (reader) and returns the differences `policy`
/// refuses; `Err` when `budget` runs out first (one step per pair of nodes compared,
/// and per difference found or copied from the memo).
pub(crate) fn incompatibilities(
    old: &Model,
    new: &Model,
    policy: JsonPolicy,
    budget: &mut Budget,
) -> Result<Vec<Diff>, TooComplex> {
    let mut cmp = Cmp {
        models: [old, new],
        policy,
        memo: HashMap::default(),
        in_progress: HashSet::default(),
        depth: 0,
        quiet: false,
        budget,
        stop: None,
    };
    let all = cmp.compare(
        Some(H {
            side: 0,
            id: old.root,
        }),
        Some(H {
            side: 1,
            id: new.root,
        }),
    );
    if let Some(e) = cmp.stop {
        return Err(e);
    }
    Ok(all
        .into_iter()
        .filter(|d| !d.kind.is_compatible(policy))
        .collect())
}

struct Cmp<'a, 'b> {
    models: [&'a Model; 2],
    budget: &'b mut Budget,
    /// Set when the budget ran out: every comparison after it is cut short.
    stop: Option<TooComplex>,
    policy: JsonPolicy,
    /// (original, update, quiet) -> differences relative to the pair.
    memo: HashMap<(H, H, bool), Vec<Diff>, Fx>,
    in_progress: HashSet<(H, H), Fx>,
    depth: usize,
    /// Set while a comparison is only a trial whose differences are never shown
    /// (matching oneOf branches, the inside of `not`): no messages are written then.
    quiet: bool,
}

/// Appends `diffs` with `prefix()` put before each path; the prefix is only built
/// when there is something to append. It is escaped, as `Diff::path`; Confluent's
/// path gets it unescaped.
fn push_prefixed(out: &mut Vec<Diff>, diffs: Vec<Diff>, prefix: impl FnOnce() -> String) {
    push_prefixed2(out, diffs, || {
        let p = prefix();
        let raw = raw_path(&p);
        (p, raw)
    })
}

/// [`push_prefixed`] with Confluent's prefix given apart: `prefix()` is (Accord's
/// escaped prefix, Confluent's raw one).
fn push_prefixed2(
    out: &mut Vec<Diff>,
    diffs: Vec<Diff>,
    prefix: impl FnOnce() -> (String, String),
) {
    if diffs.is_empty() {
        return;
    }
    let (prefix, cprefix) = prefix();
    out.extend(diffs.into_iter().map(|mut d| {
        d.path.insert_str(0, &prefix);
        d.cpath.insert_str(0, &cprefix);
        d
    }));
}

fn quote_list(names: &[&String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl<'a> Cmp<'a, '_> {
    fn node(&self, h: H) -> Option<&'a Node> {
        let model: &'a Model = self.models.get(usize::from(h.side))?;
        model.node(h.id)
    }

    /// Follows `$ref`s to the schema they name.
    fn deref(&self, h: H) -> H {
        let mut cur = h;
        for _ in 0..MAX_DEREF {
            match self.node(cur).map(|n| &n.kind) {
                Some(NodeKind::Ref(RefNode {
                    target: Some(t), ..
                })) => cur = cur.with(*t),
                _ => break,
            }
        }
        cur
    }

    fn class(&self, h: H) -> Class {
        let h = self.deref(h);
        self.node(h).map_or(Class::Empty, |n| n.kind.class())
    }

    fn has_default(&self, h: H) -> bool {
        let own = self.node(h).is_some_and(|n| n.has_default);
        own || self.node(self.deref(h)).is_some_and(|n| n.has_default)
    }

    fn ok(&self, diffs: &[Diff]) -> bool {
        diffs.iter().all(|d| d.kind.is_compatible(self.policy))
    }

    /// A difference; the message is only written when the policy refuses the kind,
    /// since compatible differences are never shown. Confluent names the place the
    /// same way, with property names unescaped.
    fn mk(&self, kind: Kind, path: impl Into<String>, msg: impl FnOnce() -> String) -> Diff {
        let path = path.into();
        let cpath = raw_path(&path);
        self.mk_at(kind, path, cpath, msg)
    }

    /// [`Cmp::mk`] where Confluent's path differs from Accord's (`cpath`, raw).
    fn mk_at(
        &self,
        kind: Kind,
        path: impl Into<String>,
        cpath: impl Into<String>,
        msg: impl FnOnce() -> String,
    ) -> Diff {
        let message = if self.quiet || kind.is_compatible(self.policy) {
            String::new()
        } else {
            msg()
        };
        Diff {
            kind,
            path: path.into(),
            cpath: cpath.into(),
            message,
            confluent: true,
        }
    }

    /// Charges `n` steps; once the budget is spent, the comparison stops.
    fn spend(&mut self, n: usize) -> bool {
        if self.stop.is_none() {
            if let Err(e) = self.budget.spend(n as u64) {
                self.stop = Some(e);
            }
        }
        self.stop.is_none()
    }

    fn compare(&mut self, o: Option<H>, u: Option<H>) -> Vec<Diff> {
        if !self.spend(1) {
            return Vec::new();
        }
        let (o, u) = match (o, u) {
            (None, None) => return Vec::new(),
            (None, Some(_)) => {
                return vec![self.mk(Kind::SCHEMA_ADDED, "", || {
                    "the reader schema adds a subschema the writer schema does not have".into()
                })]
            }
            (Some(_), None) => return vec![self.mk(Kind::SCHEMA_REMOVED, "", String::new)],
            (Some(o), Some(u)) => (self.deref(o), self.deref(u)),
        };
        if self.depth >= MAX_COMPARE_DEPTH {
            return Vec::new();
        }
        let shared = |h: H| {
            self.models
                .get(usize::from(h.side))
                .is_some_and(|m| m.is_ref_target(h.id))
        };
        if !(shared(o) || shared(u)) {
            self.depth += 1;
            let diffs = self.compare_nodes(o, u);
            self.depth -= 1;
            self.spend(diffs.len());
            return diffs;
        }
        let key = (o, u, self.quiet);
        if let Some(m) = self.memo.get(&key) {
            let m = m.clone();
            self.spend(m.len());
            return m;
        }
        if !self.in_progress.insert((o, u)) {
            // A recursive cycle: assume compatible, and do not cache the cut-short result.
            return Vec::new();
        }
        self.depth += 1;
        let diffs = self.compare_nodes(o, u);
        self.depth -= 1;
        self.in_progress.remove(&(o, u));
        self.spend(diffs.len());
        self.memo.insert(key, diffs.clone());
        diffs
    }

    /// A comparison whose differences only decide compatibility and are never shown.
    fn trial(&mut self, o: Option<H>, u: Option<H>) -> Vec<Diff> {
        let was = std::mem::replace(&mut self.quiet, true);
        let d = self.compare(o, u);
        self.quiet = was;
        d
    }

    fn compare_nodes(&mut self, o: H, u: H) -> Vec<Diff> {
        let (Some(on), Some(un)) = (self.node(o), self.node(u)) else {
            return Vec::new();
        };
        let oc = on.kind.class();
        let uc = un.kind.class();

        // Confluent's special cases for a combined schema on one side only. Its
        // singleton test counts the subschemas as written, repeats included.
        if oc != Class::Combined && uc == Class::Combined {
            if let NodeKind::Combined(c) = &un.kind {
                if let (1, Some(&(_, only))) = (c.total, c.subs.first()) {
                    let d = self.trial(Some(o), Some(u.with(only)));
                    if self.ok(&d) {
                        return d;
                    }
                } else if c.criterion != Criterion::AllOf {
                    // A plain schema may become a oneOf/anyOf with a compatible branch.
                    for &(_, sub) in &c.subs {
                        let mut d = self.trial(Some(o), Some(u.with(sub)));
                        if self.ok(&d) {
                            d.push(self.mk(Kind::SUM_TYPE_EXTENDED, "", String::new));
                            return d;
                        }
                    }
                }
            }
        } else if oc == Class::Combined && uc != Class::Combined {
            if let NodeKind::Combined(c) = &on.kind {
                if let (1, Some(&(_, only))) = (c.total, c.subs.first()) {
                    let d = self.trial(Some(o.with(only)), Some(u));
                    if self.ok(&d) {
                        return d;
                    }
                } else if c.criterion == Criterion::AllOf {
                    // An allOf may become one of its parts (or something that reads it).
                    for &(_, sub) in &c.subs {
                        let mut d = self.trial(Some(o.with(sub)), Some(u));
                        if self.ok(&d) {
                            d.push(self.mk(Kind::PRODUCT_TYPE_NARROWED, "", String::new));
                            return d;
                        }
                    }
                }
            }
        }

        if oc != uc {
            // Data valid against `false` is none, and `{}`/`true` reads anything.
            if oc == Class::False || uc == Class::Empty {
                return Vec::new();
            }
            // Kafka Connect's bytes may be written as either; Confluent lets them swap.
            if on.connect_bytes && un.connect_bytes {
                return Vec::new();
            }
            let d = self.mk(Kind::TYPE_CHANGED, "", || {
                format!(
                    "the reader schema expects {} where the writer schema has {}",
                    uc.describe(),
                    oc.describe()
                )
            });
            // An unresolved remote `$ref` on one side: Confluent compares what it
            // fetches, so its finding is unknown.
            if oc == Class::Ref || uc == Class::Ref {
                return vec![d.accord_only()];
            }
            return vec![d];
        }

        match (&on.kind, &un.kind) {
            (NodeKind::String(a), NodeKind::String(b)) => self.strings(a, b),
            (NodeKind::Number(a), NodeKind::Number(b)) => self.numbers(a, b),
            (NodeKind::Enum(a), NodeKind::Enum(b)) => self.enums(a, b),
            (NodeKind::Const(a), NodeKind::Const(b)) => {
                if a.key == b.key {
                    Vec::new()
                } else {
                    vec![self.mk(Kind::ENUM_ARRAY_CHANGED, "/const", || {
                        format!(
                            "const is {} in the reader schema but {} in the writer schema",
                            b.value, a.value
                        )
                    })]
                }
            }
            (NodeKind::Combined(a), NodeKind::Combined(b)) => self.combined(o, u, a, b),
            (NodeKind::Not(a), NodeKind::Not(b)) => {
                // What the reader forbids must be something the writer already forbade:
                // compare the insides the other way round.
                let d = self.trial(Some(u.with(*b)), Some(o.with(*a)));
                let kind = if self.ok(&d) {
                    Kind::NOT_TYPE_NARROWED
                } else {
                    Kind::NOT_TYPE_EXTENDED
                };
                vec![self.mk(kind, "/not", || {
                    "the reader schema's `not` forbids values the writer schema allows".into()
                })]
            }
            (NodeKind::Object(a), NodeKind::Object(b)) => self.objects(o, u, a, b),
            (NodeKind::Array(a), NodeKind::Array(b)) => self.arrays(o, u, a, b),
            (NodeKind::Ref(a), NodeKind::Ref(b)) if a.unresolved != b.unresolved => {
                vec![self
                    .mk(Kind::TYPE_CHANGED, "", || {
                        format!(
                            "the reader schema refers to {} where the writer schema refers to {}; \
                             neither is supplied, so Accord cannot compare them",
                            b.unresolved.as_deref().unwrap_or(&b.reference),
                            a.unresolved.as_deref().unwrap_or(&a.reference)
                        )
                    })
                    .accord_only()]
            }
            _ => Vec::new(),
        }
    }

    /// A numeric limit keyword: `kinds` = [added, removed, increased, decreased].
    fn limit<T: PartialOrd + std::fmt::Display + Copy>(
        &self,
        out: &mut Vec<Diff>,
        keyword: &str,
        o: Option<T>,
        u: Option<T>,
        kinds: [Kind; 4],
    ) {
        let [added, removed, increased, decreased] = kinds;
        let path = format!("/{keyword}");
        match (o, u) {
            (None, Some(b)) => out.push(self.mk(added, path, || {
                format!(
                    "the reader schema adds {keyword} {b}, which the writer schema does not have"
                )
            })),
            (Some(a), None) => out.push(self.mk(removed, path, || {
                format!("the reader schema drops {keyword} (it is {a} in the writer schema)")
            })),
            (Some(a), Some(b)) if a != b => {
                let kind = if a < b { increased } else { decreased };
                out.push(self.mk(kind, path, || {
                    format!("{keyword} is {b} in the reader schema but {a} in the writer schema")
                }))
            }
            _ => {}
        }
    }

    fn strings(&self, a: &StringNode, b: &StringNode) -> Vec<Diff> {
        use Kind::*;
        let mut out = Vec::new();
        self.limit(
            &mut out,
            "maxLength",
            a.max_length,
            b.max_length,
            [
                MAX_LENGTH_ADDED,
                MAX_LENGTH_REMOVED,
                MAX_LENGTH_INCREASED,
                MAX_LENGTH_DECREASED,
            ],
        );
        self.limit(
            &mut out,
            "minLength",
            a.min_length,
            b.min_length,
            [
                MIN_LENGTH_ADDED,
                MIN_LENGTH_REMOVED,
                MIN_LENGTH_INCREASED,
                MIN_LENGTH_DECREASED,
            ],
        );
        match (&a.pattern, &b.pattern) {
            (None, Some(p)) => out.push(self.mk(PATTERN_ADDED, "/pattern", || {
                format!("the reader schema adds pattern \"{p}\"")
            })),
            (Some(_), None) => out.push(self.mk(PATTERN_REMOVED, "/pattern", String::new)),
            (Some(p), Some(q)) if p != q => out.push(self.mk(PATTERN_CHANGED, "/pattern", || {
                format!("pattern is \"{q}\" in the reader schema but \"{p}\" in the writer schema")
            })),
            _ => {}
        }
        out
    }

    fn numbers(&self, a: &NumberNode, b: &NumberNode) -> Vec<Diff> {
        use Kind::*;
        let mut out = Vec::new();
        self.limit(
            &mut out,
            "maximum",
            a.maximum,
            b.maximum,
            [
                MAXIMUM_ADDED,
                MAXIMUM_REMOVED,
                MAXIMUM_INCREASED,
                MAXIMUM_DECREASED,
            ],
        );
        self.limit(
            &mut out,
            "minimum",
            a.minimum,
            b.minimum,
            [
                MINIMUM_ADDED,
                MINIMUM_REMOVED,
                MINIMUM_INCREASED,
                MINIMUM_DECREASED,
            ],
        );
        self.limit(
            &mut out,
            "exclusiveMaximum",
            a.exclusive_maximum,
            b.exclusive_maximum,
            [
                EXCLUSIVE_MAXIMUM_ADDED,
                EXCLUSIVE_MAXIMUM_REMOVED,
                EXCLUSIVE_MAXIMUM_INCREASED,
                EXCLUSIVE_MAXIMUM_DECREASED,
            ],
        );
        self.limit(
            &mut out,
            "exclusiveMinimum",
            a.exclusive_minimum,
            b.exclusive_minimum,
            [
                EXCLUSIVE_MINIMUM_ADDED,
                EXCLUSIVE_MINIMUM_REMOVED,
                EXCLUSIVE_MINIMUM_INCREASED,
                EXCLUSIVE_MINIMUM_DECREASED,
            ],
        );
        match (a.multiple_of, b.multiple_of) {
            (None, Some(m)) => out.push(self.mk(MULTIPLE_OF_ADDED, "/multipleOf", || {
                format!("the reader schema adds multipleOf {m}")
            })),
            (Some(_), None) => out.push(self.mk(MULTIPLE_OF_REMOVED, "/multipleOf", String::new)),
            (Some(x), Some(y)) if x != y => {
                // A multiple of the old step accepts fewer numbers (expanded); a divisor
                // of it accepts more (reduced).
                let kind = if is_multiple(y, x) {
                    MULTIPLE_OF_EXPANDED
                } else if is_multiple(x, y) {
                    MULTIPLE_OF_REDUCED
                } else {
                    MULTIPLE_OF_CHANGED
                };
                let d = self.mk(kind, "/multipleOf", || {
                    format!("multipleOf is {y} in the reader schema but {x} in the writer schema")
                });
                // Confluent compares the two steps truncated to integers, which only
                // agrees with this for whole, positive ones.
                let whole = |v: f64| v >= 1.0 && v.fract() == 0.0;
                out.push(if whole(x) && whole(y) {
                    d
                } else {
                    d.accord_only()
                });
            }
            _ => {}
        }
        // Confluent does not compare draft-04's boolean exclusive flags, and compares an
        // exclusiveMaximum that went down with the new `maximum`: on these its findings
        // are not Accord's.
        let draft4 = a.draft4_exclusive || b.draft4_exclusive;
        for d in &mut out {
            let bound = matches!(
                d.kind,
                MAXIMUM_ADDED
                    | MAXIMUM_REMOVED
                    | MAXIMUM_INCREASED
                    | MAXIMUM_DECREASED
                    | MINIMUM_ADDED
                    | MINIMUM_REMOVED
                    | MINIMUM_INCREASED
                    | MINIMUM_DECREASED
                    | EXCLUSIVE_MAXIMUM_ADDED
                    | EXCLUSIVE_MAXIMUM_REMOVED
                    | EXCLUSIVE_MAXIMUM_INCREASED
                    | EXCLUSIVE_MINIMUM_ADDED
                    | EXCLUSIVE_MINIMUM_REMOVED
                    | EXCLUSIVE_MINIMUM_INCREASED
                    | EXCLUSIVE_MINIMUM_DECREASED
            );
            if (draft4 && bound) || d.kind == EXCLUSIVE_MAXIMUM_DECREASED {
                d.confluent = false;
            }
        }
        if a.requires_integer != b.requires_integer {
            if a.requires_integer {
                out.push(self.mk(TYPE_EXTENDED, "", String::new));
            } else {
                out.push(self.mk(TYPE_NARROWED, "", || {
                    "the reader schema accepts only integers where the writer schema allows any number"
                        .into()
                }));
            }
        }
        out
    }

    fn enums(&self, a: &EnumNode, b: &EnumNode) -> Vec<Diff> {
        if a.keys == b.keys {
            return Vec::new();
        }
        let kind = if a.keys.is_subset(&b.keys) {
            Kind::ENUM_ARRAY_EXTENDED
        } else if b.keys.is_subset(&a.keys) {
            Kind::ENUM_ARRAY_NARROWED
        } else {
            Kind::ENUM_ARRAY_CHANGED
        };
        vec![self.mk(kind, "/enum", || {
            let missing: Vec<String> = a
                .values
                .iter()
                .filter(|v| !b.keys.contains(&value_key(v)))
                .map(|v| v.to_string())
                .collect();
            format!(
                "the reader schema's enum lacks {} of the writer schema",
                missing.join(", ")
            )
        })]
    }

    fn is_open(obj: &ObjectNode) -> bool {
        obj.permits_additional
            && obj.additional.is_none()
            && obj.pattern_properties.is_empty()
            && obj.unevaluated.is_none()
    }

    /// The schema a partially open object gives a property it does not declare.
    fn partial_schema(&self, side: H, obj: &ObjectNode, name: &str) -> Option<NodeId> {
        if let Some((_, id)) = obj.pattern_properties.iter().find(|(p, _)| p.matches(name)) {
            return Some(*id);
        }
        if obj.additional.is_some() {
            return obj.additional;
        }
        match obj.unevaluated {
            Some(id) if obj.permits_additional && self.class(side.with(id)) != Class::False => {
                Some(id)
            }
            _ => None,
        }
    }

    fn objects(&mut self, o: H, u: H, a: &ObjectNode, b: &ObjectNode) -> Vec<Diff> {
        use Kind::*;
        let mut out = Vec::new();

        // Properties, by name; versions usually keep their order, so try the same
        // position before hashing.
        let a_open = Self::is_open(a);
        let b_open = Self::is_open(b);
        let any_required = !(a.required.is_empty() && b.required.is_empty());
        for (i, (name, aid)) in a.properties.iter().enumerate() {
            let found = match b.properties.get(i) {
                Some((bn, bid)) if bn == name => Some(*bid),
                _ => b.property(name),
            };
            if let Some(bid) = found {
                // `required` changes of properties both declare.
                let was = any_required && a.required.contains(name);
                let is = any_required && b.required.contains(name);
                if was && !is {
                    let path = format!("/required/{}", escape_token(name));
                    out.push(self.mk(REQUIRED_ATTRIBUTE_REMOVED, path, String::new));
                } else if is && !was {
                    let path = format!("/required/{}", escape_token(name));
                    let kind = if self.has_default(u.with(bid)) {
                        REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED
                    } else {
                        REQUIRED_ATTRIBUTE_ADDED
                    };
                    out.push(self.mk(kind, path, || {
                        format!("property '{name}' is required by the reader schema but optional in the writer schema, and has no default")
                    }));
                }
                let d = self.compare(Some(o.with(*aid)), Some(u.with(bid)));
                push_prefixed(&mut out, d, || {
                    format!("/properties/{}", escape_token(name))
                });
                continue;
            }
            let path = format!("/properties/{}", escape_token(name));
            // Removed: only the reader's content model matters.
            if b_open {
                out.push(self.mk(PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL, path, || {
                    format!("the reader schema no longer declares property '{name}'")
                }));
            } else if let Some(ps) = self.partial_schema(u, b, name) {
                let d = self.compare(Some(o.with(*aid)), Some(u.with(ps)));
                let compatible = self.ok(&d);
                push_prefixed(&mut out, d, || path.clone());
                let kind = if compatible {
                    PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                } else {
                    PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                };
                out.push(self.mk(kind, path, || {
                    format!("property '{name}' of the writer schema is missing in the reader schema, and the reader's patternProperties/additionalProperties do not accept its values")
                }));
            } else if self.class(o.with(*aid)) == Class::False {
                out.push(self.mk(
                    PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL,
                    path,
                    String::new,
                ));
            } else {
                out.push(self.mk(PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL, path, || {
                    format!("the reader schema is closed (no additional properties) and no longer declares property '{name}', which the writer schema allows")
                }));
            }
        }
        for (j, (name, bid)) in b.properties.iter().enumerate() {
            let in_a = match a.properties.get(j) {
                Some((an, _)) if an == name => true,
                _ => a.property(name).is_some(),
            };
            if in_a {
                continue;
            }
            // Added: only the writer's content model matters.
            let path = format!("/properties/{}", escape_token(name));
            let bid = *bid;
            let required = b.required.contains(name);
            let with_default = self.has_default(u.with(bid));
            if a_open {
                let kind = if self.class(u.with(bid)) == Class::Empty {
                    PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL
                } else if required && with_default {
                    REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_OPEN_CONTENT_MODEL
                } else if required {
                    REQUIRED_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL
                } else {
                    OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL
                };
                out.push(self.mk(kind, path, || {
                    format!("the reader schema adds property '{name}', but the writer schema has an open content model, so existing data may already carry '{name}' with any value")
                }));
                continue;
            }
            if let Some(ps) = self.partial_schema(o, a, name) {
                let d = self.compare(Some(o.with(ps)), Some(u.with(bid)));
                let compatible = self.ok(&d);
                push_prefixed(&mut out, d, || path.clone());
                let kind = if compatible {
                    PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                } else {
                    PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                };
                out.push(self.mk(kind, path.clone(), || {
                    format!("the reader schema adds property '{name}' with a schema that does not accept every value the writer's patternProperties/additionalProperties allow for it")
                }));
            }
            let kind = if !required {
                OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL
            } else if with_default {
                REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL
            } else {
                REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL
            };
            out.push(self.mk(kind, path, || {
                format!("the reader schema adds required property '{name}' without a default; data written with the writer schema lacks it")
            }));
        }

        self.dependencies(&mut out, o, u, a, b);
        self.additional_properties(&mut out, o, u, a, b);
        self.unevaluated(
            &mut out,
            o,
            u,
            a.unevaluated,
            b.unevaluated,
            "unevaluatedProperties",
            [
                UNEVALUATED_PROPERTIES_ADDED,
                UNEVALUATED_PROPERTIES_REMOVED,
                UNEVALUATED_PROPERTIES_EXTENDED,
                UNEVALUATED_PROPERTIES_NARROWED,
            ],
        );
        self.limit(
            &mut out,
            "maxProperties",
            a.max_properties,
            b.max_properties,
            [
                MAX_PROPERTIES_ADDED,
                MAX_PROPERTIES_REMOVED,
                MAX_PROPERTIES_INCREASED,
                MAX_PROPERTIES_DECREASED,
            ],
        );
        self.limit(
            &mut out,
            "minProperties",
            a.min_properties,
            b.min_properties,
            [
                MIN_PROPERTIES_ADDED,
                MIN_PROPERTIES_REMOVED,
                MIN_PROPERTIES_INCREASED,
                MIN_PROPERTIES_DECREASED,
            ],
        );
        out
    }

    fn dependencies(&mut self, out: &mut Vec<Diff>, o: H, u: H, a: &ObjectNode, b: &ObjectNode) {
        use Kind::*;
        let mut names: Vec<&String> = a.property_deps.iter().map(|(n, _, _)| n).collect();
        names.extend(
            b.property_deps
                .iter()
                .map(|(n, _, _)| n)
                .filter(|n| a.property_dep(n).is_none()),
        );
        for name in names {
            let (ad, bd) = (a.property_dep(name), b.property_dep(name));
            let keyword = bd.or(ad).map_or("dependencies", |(_, kw)| kw);
            let path = format!("/{keyword}/{}", escape_token(name));
            // Confluent's model has one `dependencies` keyword for all drafts.
            let cpath = format!("/dependencies/{name}");
            match (ad, bd) {
                (_, None) => {
                    out.push(self.mk_at(DEPENDENCY_ARRAY_REMOVED, path, cpath, String::new))
                }
                (None, Some((deps, _))) => {
                    out.push(self.mk_at(DEPENDENCY_ARRAY_ADDED, path, cpath, || {
                        format!(
                            "the reader schema makes {} required whenever '{name}' is present",
                            quote_list(&deps.iter().collect::<Vec<_>>())
                        )
                    }))
                }
                (Some((x, _)), Some((y, _))) => {
                    let xs: HashSet<&String> = x.iter().collect();
                    let ys: HashSet<&String> = y.iter().collect();
                    if xs != ys {
                        let kind = if xs.is_subset(&ys) {
                            DEPENDENCY_ARRAY_EXTENDED
                        } else if ys.is_subset(&xs) {
                            DEPENDENCY_ARRAY_NARROWED
                        } else {
                            DEPENDENCY_ARRAY_CHANGED
                        };
                        out.push(self.mk_at(kind, path, cpath, || {
                            let extra: Vec<&String> = ys.difference(&xs).copied().collect();
                            format!(
                                "the reader schema also requires {} whenever '{name}' is present",
                                quote_list(&extra)
                            )
                        }));
                    }
                }
            }
        }

        let mut names: Vec<&String> = a.schema_deps.iter().map(|(n, _, _)| n).collect();
        names.extend(
            b.schema_deps
                .iter()
                .map(|(n, _, _)| n)
                .filter(|n| a.schema_dep(n).is_none()),
        );
        for name in names {
            let (ad, bd) = (a.schema_dep(name), b.schema_dep(name));
            let keyword = bd.or(ad).map_or("dependencies", |(_, kw)| kw);
            let path = format!("/{keyword}/{}", escape_token(name));
            let cpath = format!("/dependencies/{name}");
            match (ad, bd) {
                (_, None) => {
                    out.push(self.mk_at(DEPENDENCY_SCHEMA_REMOVED, path, cpath, String::new))
                }
                (None, Some(_)) => {
                    out.push(self.mk_at(DEPENDENCY_SCHEMA_ADDED, path, cpath, || {
                        format!("the reader schema adds a schema dependency for '{name}'")
                    }))
                }
                (Some((x, _)), Some((y, _))) => {
                    let d = self.compare(Some(o.with(x)), Some(u.with(y)));
                    push_prefixed2(out, d, || (path, cpath));
                }
            }
        }
    }

    fn additional_properties(
        &mut self,
        out: &mut Vec<Diff>,
        o: H,
        u: H,
        a: &ObjectNode,
        b: &ObjectNode,
    ) {
        use Kind::*;
        let path = "/additionalProperties";
        if a.permits_additional != b.permits_additional {
            if b.permits_additional {
                out.push(self.mk(ADDITIONAL_PROPERTIES_ADDED, path, String::new));
            } else {
                out.push(self.mk(ADDITIONAL_PROPERTIES_REMOVED, path, || {
                    "the reader schema forbids additional properties, which the writer schema allows".into()
                }));
            }
        } else {
            match (a.additional, b.additional) {
                (None, Some(_)) => out.push(self.mk(ADDITIONAL_PROPERTIES_NARROWED, path, || {
                    "the reader schema restricts additional properties to a schema; the writer schema allows any".into()
                })),
                (Some(_), None) => {
                    out.push(self.mk(ADDITIONAL_PROPERTIES_EXTENDED, path, String::new))
                }
                (Some(x), Some(y)) => {
                    let d = self.compare(Some(o.with(x)), Some(u.with(y)));
                    push_prefixed(out, d, || path.to_string());
                }
                (None, None) => {}
            }
        }
    }

    /// `unevaluatedProperties` / `unevaluatedItems`; `kinds` = [added, removed,
    /// extended, narrowed]. `None` means absent, `true` or `{}`.
    #[allow(clippy::too_many_arguments)]
    fn unevaluated(
        &mut self,
        out: &mut Vec<Diff>,
        o: H,
        u: H,
        a: Option<NodeId>,
        b: Option<NodeId>,
        keyword: &str,
        kinds: [Kind; 4],
    ) {
        let [added, removed, extended, narrowed] = kinds;
        if a.is_none() && b.is_none() {
            return;
        }
        let path = format!("/{keyword}");
        let is_false = |cmp: &Self, h: H| cmp.class(h) == Class::False;
        let kind = match (a, b) {
            (None, None) => return,
            (None, Some(y)) if is_false(self, u.with(y)) => removed,
            (None, Some(_)) => narrowed,
            (Some(x), None) if is_false(self, o.with(x)) => added,
            (Some(_), None) => extended,
            (Some(x), Some(y)) => {
                let (fx, fy) = (is_false(self, o.with(x)), is_false(self, u.with(y)));
                if fx && !fy {
                    added
                } else if !fx && fy {
                    removed
                } else {
                    let d = self.compare(Some(o.with(x)), Some(u.with(y)));
                    push_prefixed(out, d, || path);
                    return;
                }
            }
        };
        out.push(self.mk(kind, path, || {
            format!("the reader schema's {keyword} accepts less than the writer schema's")
        }));
    }

    fn arrays(&mut self, o: H, u: H, a: &ArrayNode, b: &ArrayNode) -> Vec<Diff> {
        use Kind::*;
        let mut out = Vec::new();
        let d = self.compare(
            a.all_items.map(|x| o.with(x)),
            b.all_items.map(|y| u.with(y)),
        );
        push_prefixed(&mut out, d, || "/items".to_string());

        // Tuple items, by position.
        let empty = Vec::new();
        let at = a.tuple.as_ref().unwrap_or(&empty);
        let bt = b.tuple.as_ref().unwrap_or(&empty);
        let keyword = if b.tuple.is_some() {
            b.tuple_keyword
        } else {
            a.tuple_keyword
        };
        let a_open = a.permits_additional && a.additional.is_none() && a.unevaluated.is_none();
        let b_open = b.permits_additional && b.additional.is_none() && b.unevaluated.is_none();
        for (i, (x, y)) in at.iter().zip(bt.iter()).enumerate() {
            let d = self.compare(Some(o.with(*x)), Some(u.with(*y)));
            push_prefixed2(&mut out, d, || {
                (format!("/{keyword}/{i}"), format!("/items/{i}"))
            });
        }
        for (i, x) in at.iter().enumerate().skip(bt.len()) {
            let path = format!("/{keyword}/{i}");
            // Confluent's model keeps tuple items under `items` in every draft.
            let cpath = format!("/items/{i}");
            if b_open {
                out.push(self.mk_at(
                    ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL,
                    path,
                    cpath.clone(),
                    String::new,
                ));
            } else if let Some(ps) = self.partial_items(u, b) {
                let d = self.compare(Some(o.with(*x)), Some(u.with(ps)));
                let compatible = self.ok(&d);
                push_prefixed2(&mut out, d, || (path.clone(), cpath.clone()));
                let kind = if compatible {
                    ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                } else {
                    ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                };
                out.push(self.mk_at(kind, path, cpath.clone(), || {
                    format!("tuple item {i} of the writer schema is missing in the reader schema, and the reader's schema for further items does not accept it")
                }));
            } else if self.class(o.with(*x)) == Class::False {
                out.push(self.mk_at(
                    ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL,
                    path,
                    cpath.clone(),
                    String::new,
                ));
            } else {
                out.push(self.mk_at(ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL, path, cpath.clone(), || {
                    format!("the reader schema allows no items after position {}, but the writer schema has tuple item {i}", bt.len())
                }));
            }
        }
        for (i, y) in bt.iter().enumerate().skip(at.len()) {
            let path = format!("/{keyword}/{i}");
            // Confluent's model keeps tuple items under `items` in every draft.
            let cpath = format!("/items/{i}");
            if a_open {
                let kind = if self.class(u.with(*y)) == Class::Empty {
                    ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL
                } else {
                    ITEM_ADDED_TO_OPEN_CONTENT_MODEL
                };
                out.push(self.mk_at(kind, path, cpath.clone(), || {
                    format!("the reader schema adds tuple item {i}, but the writer schema allows any value there")
                }));
            } else if let Some(ps) = self.partial_items(o, a) {
                let d = self.compare(Some(o.with(ps)), Some(u.with(*y)));
                let compatible = self.ok(&d);
                push_prefixed2(&mut out, d, || (path.clone(), cpath.clone()));
                let kind = if compatible {
                    ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                } else {
                    ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL
                };
                out.push(self.mk_at(kind, path, cpath.clone(), || {
                    format!("the reader schema adds tuple item {i} with a schema that does not accept what the writer schema allows there")
                }));
            } else {
                out.push(self.mk_at(
                    ITEM_ADDED_TO_CLOSED_CONTENT_MODEL,
                    path,
                    cpath.clone(),
                    String::new,
                ));
            }
        }

        // Items after the tuple.
        let path = || format!("/{}", b.additional_keyword);
        // ... and items after the tuple under `additionalItems`.
        let cpath = || "/additionalItems".to_string();
        if a.permits_additional != b.permits_additional {
            if a.permits_additional {
                out.push(self.mk_at(ADDITIONAL_ITEMS_REMOVED, path(), cpath(), || {
                    "the reader schema forbids items after the tuple, which the writer schema allows".into()
                }));
            } else {
                out.push(self.mk_at(ADDITIONAL_ITEMS_ADDED, path(), cpath(), String::new));
            }
        } else {
            match (a.additional, b.additional) {
                (None, Some(_)) => out.push(self.mk_at(ADDITIONAL_ITEMS_NARROWED, path(), cpath(), || {
                    "the reader schema restricts items after the tuple to a schema; the writer schema allows any".into()
                })),
                (Some(_), None) => {
                    out.push(self.mk_at(ADDITIONAL_ITEMS_EXTENDED, path(), cpath(), String::new))
                }
                (Some(x), Some(y)) => {
                    let d = self.compare(Some(o.with(x)), Some(u.with(y)));
                    push_prefixed2(&mut out, d, || (path(), cpath()));
                }
                (None, None) => {}
            }
        }
        self.unevaluated(
            &mut out,
            o,
            u,
            a.unevaluated,
            b.unevaluated,
            "unevaluatedItems",
            [
                UNEVALUATED_ITEMS_ADDED,
                UNEVALUATED_ITEMS_REMOVED,
                UNEVALUATED_ITEMS_EXTENDED,
                UNEVALUATED_ITEMS_NARROWED,
            ],
        );

        self.limit(
            &mut out,
            "maxItems",
            a.max_items,
            b.max_items,
            [
                MAX_ITEMS_ADDED,
                MAX_ITEMS_REMOVED,
                MAX_ITEMS_INCREASED,
                MAX_ITEMS_DECREASED,
            ],
        );
        self.limit(
            &mut out,
            "minItems",
            a.min_items,
            b.min_items,
            [
                MIN_ITEMS_ADDED,
                MIN_ITEMS_REMOVED,
                MIN_ITEMS_INCREASED,
                MIN_ITEMS_DECREASED,
            ],
        );
        if a.unique_items != b.unique_items {
            if a.unique_items {
                out.push(self.mk(UNIQUE_ITEMS_REMOVED, "/uniqueItems", String::new));
            } else {
                out.push(self.mk(UNIQUE_ITEMS_ADDED, "/uniqueItems", || {
                    "the reader schema requires unique items; the writer schema allows duplicates"
                        .into()
                }));
            }
        }
        self.limit(
            &mut out,
            "maxContains",
            a.max_contains,
            b.max_contains,
            [
                MAX_CONTAINS_ADDED,
                MAX_CONTAINS_REMOVED,
                MAX_CONTAINS_INCREASED,
                MAX_CONTAINS_DECREASED,
            ],
        );
        self.limit(
            &mut out,
            "minContains",
            a.min_contains,
            b.min_contains,
            [
                MIN_CONTAINS_ADDED,
                MIN_CONTAINS_REMOVED,
                MIN_CONTAINS_INCREASED,
                MIN_CONTAINS_DECREASED,
            ],
        );
        out
    }

    /// The schema a partially open array gives items after its tuple.
    fn partial_items(&self, side: H, arr: &ArrayNode) -> Option<NodeId> {
        if arr.additional.is_some() {
            return arr.additional;
        }
        match arr.unevaluated {
            Some(id) if arr.permits_additional && self.class(side.with(id)) != Class::False => {
                Some(id)
            }
            _ => None,
        }
    }

    /// Confluent's rule for a changed keyword (`compareCriteria`): a change to `anyOf`
    /// extends; to `oneOf` only from a single subschema; to `allOf` only between single
    /// subschemas; anything else changes the type. Singletons count the subschemas as
    /// written, repeats included.
    fn criteria(&self, a: &CombinedNode, b: &CombinedNode) -> Option<Kind> {
        use Criterion::*;
        if a.criterion == b.criterion {
            return None;
        }
        let singleton = |c: &CombinedNode| c.total == 1;
        Some(match b.criterion {
            // allOf/oneOf -> anyOf accepts at least as much.
            AnyOf => Kind::COMBINED_TYPE_EXTENDED,
            OneOf if singleton(a) => Kind::COMBINED_TYPE_EXTENDED,
            AllOf if singleton(a) && singleton(b) => Kind::COMBINED_TYPE_EXTENDED,
            _ => Kind::COMBINED_TYPE_CHANGED,
        })
    }

    fn combined(&mut self, o: H, u: H, a: &CombinedNode, b: &CombinedNode) -> Vec<Diff> {
        use Kind::*;
        let mut out = Vec::new();
        if let Some(kind) = self.criteria(a, b) {
            out.push(self.mk(kind, "", || {
                format!(
                    "the reader schema combines its subschemas with {} where the writer schema uses {}",
                    b.criterion.keyword(),
                    a.criterion.keyword()
                )
            }));
            if kind == COMBINED_TYPE_CHANGED {
                return out;
            }
        }
        // Sizes count equal subschemas once. The reader's keyword says whether more
        // of them is a product (allOf: data must match more) or a sum (anyOf/oneOf:
        // data may match more).
        let (n, m) = (a.subs.len(), b.subs.len());
        let all = b.criterion == Criterion::AllOf;
        let kw = b.criterion.keyword();
        if n < m {
            out.push(self.mk(
                if all {
                    PRODUCT_TYPE_EXTENDED
                } else {
                    SUM_TYPE_EXTENDED
                },
                "",
                || {
                    format!(
                        "the reader schema's allOf has {m} subschemas where the writer schema's {} has {n}; data must now match more of them",
                        a.criterion.keyword()
                    )
                },
            ));
        } else if n > m {
            out.push(self.mk(
                if all {
                    PRODUCT_TYPE_NARROWED
                } else {
                    SUM_TYPE_NARROWED
                },
                "",
                || {
                    format!(
                        "the reader schema's {kw} has {m} alternatives where the writer schema's {} has {n}; data matching only the others is refused",
                        a.criterion.keyword()
                    )
                },
            ));
        }

        // Versions usually keep their branches in order: if each writer branch is read
        // by the reader branch at its position, that is already a maximum matching, and
        // its (compatible) differences are never shown.
        let smaller = n.min(m);
        let diagonal = (0..smaller).all(|i| match (a.subs.get(i), b.subs.get(i)) {
            (Some(&(_, x)), Some(&(_, y))) => {
                let d = self.trial(Some(o.with(x)), Some(u.with(y)));
                self.ok(&d)
            }
            _ => false,
        });
        if diagonal {
            return out;
        }

        // Pair writer subschemas with compatible reader subschemas (a maximum matching).
        let mut edges: Vec<Vec<(usize, Vec<Diff>)>> = vec![Vec::new(); n];
        if n.saturating_mul(m) <= MAX_COMBINED_PAIRS {
            for (i, &(_, x)) in a.subs.iter().enumerate() {
                for (j, &(_, y)) in b.subs.iter().enumerate() {
                    let d = self.trial(Some(o.with(x)), Some(u.with(y)));
                    if self.ok(&d) {
                        if let Some(e) = edges.get_mut(i) {
                            e.push((j, d));
                        }
                    }
                }
            }
        } else {
            // Too many pairs to try them all: only the same positions.
            for (i, (&(_, x), &(_, y))) in a.subs.iter().zip(b.subs.iter()).enumerate() {
                let d = self.trial(Some(o.with(x)), Some(u.with(y)));
                if self.ok(&d) {
                    if let Some(e) = edges.get_mut(i) {
                        e.push((i, d));
                    }
                }
            }
        }
        let matching = max_matching(&edges, m);
        let mut matched = 0;
        for (i, j) in matching.iter().enumerate() {
            let Some(j) = *j else { continue };
            matched += 1;
            let seg = match b.subs.get(j) {
                Some((idx, _)) if !b.synthetic => format!("/{}/{idx}", b.criterion.keyword()),
                _ => String::new(),
            };
            // Confluent names a pair by the writer's keyword and the writer subschema's
            // position among its distinct subschemas.
            let cseg = format!("/{}/{i}", a.criterion.keyword());
            if let Some((_, d)) = edges
                .get_mut(i)
                .and_then(|e| e.iter_mut().find(|(jj, _)| *jj == j))
            {
                push_prefixed2(&mut out, std::mem::take(d), || (seg, cseg));
            }
        }
        if matched < n.min(m) {
            if let Some(explained) = self.explain_parts(o, u, a, b) {
                // Confluent says COMBINED_TYPE_SUBSCHEMAS_CHANGED here instead.
                out.extend(explained.into_iter().map(Diff::accord_only));
            } else {
                let unmatched: Vec<String> = matching
                    .iter()
                    .enumerate()
                    .filter(|(_, j)| j.is_none())
                    .filter_map(|(i, _)| a.subs.get(i))
                    .map(|(idx, _)| format!("{}/{idx}", a.criterion.keyword()))
                    .collect();
                out.push(self.mk(COMBINED_TYPE_SUBSCHEMAS_CHANGED, "", || {
                    format!(
                        "no subschema of the reader schema's {} accepts the writer schema's {}",
                        b.criterion.keyword(),
                        unmatched.join(", ")
                    )
                }));
            }
        }
        out
    }

    /// When both sides are the synthetic parts of one schema object (`type` + `enum`,
    /// a `type` array, ...), Confluent only says COMBINED_TYPE_SUBSCHEMAS_CHANGED. Each
    /// part has a different class, so pair them by class instead and report what
    /// actually changed inside (e.g. ENUM_ARRAY_NARROWED, MAX_LENGTH_DECREASED). Only
    /// used once the verdict is already "incompatible", so it never changes a verdict.
    fn explain_parts(
        &mut self,
        o: H,
        u: H,
        a: &CombinedNode,
        b: &CombinedNode,
    ) -> Option<Vec<Diff>> {
        if !(a.synthetic && b.synthetic) {
            return None;
        }
        let classes = |cmp: &Self, side: H, c: &CombinedNode| -> Option<HashMap<Class, NodeId>> {
            let mut map = HashMap::new();
            for &(_, id) in &c.subs {
                if map.insert(cmp.class(side.with(id)), id).is_some() {
                    return None;
                }
            }
            Some(map)
        };
        let ac = classes(self, o, a)?;
        let bc = classes(self, u, b)?;
        let covered = if a.criterion == Criterion::AllOf {
            ac.len() == bc.len() && ac.keys().all(|k| bc.contains_key(k))
        } else {
            ac.keys().all(|k| bc.contains_key(k))
        };
        if !covered {
            return None;
        }
        let mut out = Vec::new();
        for &(_, x) in &a.subs {
            let class = self.class(o.with(x));
            if let Some(&y) = bc.get(&class) {
                out.extend(self.compare(Some(o.with(x)), Some(u.with(y))));
            }
        }
        if self.ok(&out) {
            None
        } else {
            Some(out)
        }
    }
}

/// `y` is a whole multiple of `x` (both positive), allowing for binary fractions.
fn is_multiple(y: f64, x: f64) -> bool {
    if x == 0.0 {
        return false;
    }
    let q = y / x;
    q.is_finite() && q >= 1.0 && (q - q.round()).abs() <= 1e-9 * q.abs().max(1.0)
}

/// A maximum bipartite matching (Kuhn's augmenting paths): for each left vertex the
/// right vertex it is matched with. `edges[i]` lists (right vertex, payload).
fn max_matching<T>(edges: &[Vec<(usize, T)>], right: usize) -> Vec<Option<usize>> {
    fn augment<T>(
        i: usize,
        edges: &[Vec<(usize, T)>],
        seen: &mut [bool],
        owner: &mut [Option<usize>],
    ) -> bool {
        let Some(list) = edges.get(i) else {
            return false;
        };
        for (j, _) in list {
            let j = *j;
            match seen.get(j) {
                Some(false) => {}
                _ => continue,
            }
            if let Some(s) = seen.get_mut(j) {
                *s = true;
            }
            let current = owner.get(j).copied().flatten();
            let free = match current {
                None => true,
                Some(k) => augment(k, edges, seen, owner),
            };
            if free {
                if let Some(slot) = owner.get_mut(j) {
                    *slot = Some(i);
                }
                return true;
            }
        }
        false
    }
    let mut owner: Vec<Option<usize>> = vec![None; right];
    for i in 0..edges.len() {
        let mut seen = vec![false; right];
        augment(i, edges, &mut seen, &mut owner);
    }
    let mut result = vec![None; edges.len()];
    for (j, i) in owner.iter().enumerate() {
        if let Some(i) = i {
            if let Some(slot) = result.get_mut(*i) {
                *slot = Some(j);
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_finds_augmenting_paths() {
        // 0 can take a or b, 1 only a: the maximum pairs 0-b and 1-a.
        let edges = vec![vec![(0, ()), (1, ())], vec![(0, ())]];
        assert_eq!(max_matching(&edges, 2), vec![Some(1), Some(0)]);
        let none: Vec<Vec<(usize, ())>> = vec![vec![], vec![]];
        assert_eq!(max_matching(&none, 1), vec![None, None]);
    }

    #[test]
    fn multiples() {
        assert!(is_multiple(10.0, 5.0));
        assert!(is_multiple(0.5, 0.25));
        assert!(!is_multiple(0.25, 0.5));
        assert!(!is_multiple(7.0, 5.0));
        assert!(is_multiple(0.3, 0.1));
    }
}
