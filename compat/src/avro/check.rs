//! The reader/writer check: a transcription of Avro Java's
//! `SchemaCompatibility.ReaderWriterCompatibilityChecker` (1.11), quirks included,
//! because Confluent's verdicts and reported locations are whatever that code does.
//!
//! Every finding also carries the message Confluent lists for it (built in
//! [`super::confluent`] from the finding's type, path and Avro's own message), written
//! for the backward sense: the reader is the new schema.
//!
//! Three of those quirks decide the reported paths, so they are kept on purpose:
//! * every pair check is memoised by node identity (reader node, writer node); a pair
//!   met again returns the result (and the locations) of its first check, and a pair
//!   met while it is still being checked counts as compatible (this is what stops
//!   recursive types from looping);
//! * the checks of union branches run from a fresh root location, so an incompatibility
//!   found while a non-union reader is checked against each branch of a writer union is
//!   reported at `/` plus the path inside that branch, not at the field;
//! * a reader field missing from the writer, with no default, whose type is an enum
//!   with an enum default, is compared with the writer *record* (Java passes the record
//!   by mistake), which always gives `TYPE_MISMATCH` at `/fields/N/type`.
//!
//! # Why it runs in two passes
//!
//! Java keeps, for every pair it checked, the full list of incompatibilities, and
//! copies a child's list into its parent's. With many named types that refer to each
//! other through unions (say 300 records, each with a union of the 50 before it) almost
//! every pair of records gets checked while probing union branches, each such pair is
//! incompatible (the names differ) and the lists are copied again at every memo hit:
//! tens of seconds and gigabytes for a 100 KB schema. Only the *verdict* of most of
//! those pairs is ever used, so:
//!
//! 1. the first pass walks exactly as Java does, in the same order and with the same
//!    memo, but keeps only a verdict per pair, plus for an incompatible pair what is
//!    needed to list its incompatibilities later: its location at its first check, its
//!    place in time (when its check started and finished) and its two nodes;
//! 2. the second pass lists the incompatibilities of the root pair by checking again
//!    only the incompatible pairs whose lists it needs, one level at a time (a child
//!    pair is a reference to its own list, not a copy). A child that was still being
//!    checked when its parent was first checked (so Java took it as compatible) is the
//!    parent itself or one whose check started before and finished after the parent's,
//!    and is skipped again.
//!
//! Both passes charge a [`Budget`](crate::Budget); when it runs out the check stops
//! with [`TooComplex`](crate::TooComplex) instead of running unbounded.

use super::model::{Field, NamedKind, NamedType, Schema, Type};
use super::print::JavaPrinter;
use super::AvroSchema;
use crate::{Budget, Incompatibility, TooComplex};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

/// The memo is keyed by two small integers; a multiplicative hash is plenty for that
/// and several times cheaper than SipHash, which matters with thousands of fields.
#[derive(Default)]
struct PairHasher(u64);

impl Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// (reader node id, writer node id).
type Key = (u32, u32);
type Memo = HashMap<Key, Entry, BuildHasherDefault<PairHasher>>;

/// Pair checks nested deeper than this (only reachable through long chains of named
/// types; JSON nesting alone stays far below it) stop the whole check with the single
/// incompatibility `SCHEMA_TOO_DEEP` instead of overflowing the stack. 400 levels fit
/// in a 2 MiB thread stack (tokio's default) even in unoptimised builds.
const MAX_CHECK_DEPTH: usize = 400;

/// One step of a location (Java's location tokens).
#[derive(Clone, Copy, Debug)]
enum Tok {
    Root,
    Items,
    Values,
    Size,
    Symbols,
    Name,
    Fields,
    Type,
    Idx(u32),
}

#[derive(Clone, Debug)]
struct Found {
    kind: &'static str,
    path: String,
    message: String,
    /// What Confluent lists for it (see [`super::confluent`]).
    confluent: Option<String>,
}

impl Found {
    fn into_incompatibility(self) -> Incompatibility {
        let found = Incompatibility::new(self.kind, self.path, self.message);
        match self.confluent {
            Some(text) => found.with_confluent(text),
            None => found,
        }
    }
}

/// The memo entry of a pair.
#[derive(Clone, Copy)]
enum Entry {
    InProgress,
    Compatible,
    /// An index into `Checker::bad`.
    Incompatible(u32),
}

/// What to check again to list an incompatible pair's incompatibilities.
#[derive(Clone, Copy)]
enum Target<'a> {
    Pair(&'a Schema, &'a Schema),
    /// Java's enum-against-record comparison (always one `TYPE_MISMATCH`).
    EnumAgainstRecord(&'a Schema, &'a NamedType),
}

/// An incompatible pair, as the first pass leaves it for the second.
struct Bad<'a> {
    /// When its check started and finished (one clock for both).
    start: u32,
    finish: u32,
    /// The location of its first check, where its incompatibilities are reported:
    /// `Checker::bases[base.0..base.0 + base.1]`.
    base: (u32, u32),
    target: Target<'a>,
}

/// A pair's incompatibilities as the second pass lists them: its own, and references
/// to the lists of its incompatible children (indices into `Checker::bad`).
enum Item {
    Found(Found),
    Pair(u32),
}

/// What a check produced: whether anything was incompatible, and (second pass only)
/// the items.
#[derive(Default)]
struct Out {
    bad: bool,
    items: Vec<Item>,
}

/// Why the check stopped early.
enum Stop {
    /// Java throws (and Confluent reports only the exception) when a reader field
    /// matches more than one writer field; this is that single report, or the
    /// `SCHEMA_TOO_DEEP` one.
    Abort(Found),
    Exhausted(TooComplex),
}

struct Checker<'a, 'b> {
    r: &'a AvroSchema,
    w: &'a AvroSchema,
    memo: Memo,
    bad: Vec<Bad<'a>>,
    /// The locations of `bad`, end to end (a few large allocations, not one per pair,
    /// so the memory goes back to the system when the check ends).
    bases: Vec<Tok>,
    loc: Vec<Tok>,
    depth: usize,
    clock: u32,
    stop: Option<Stop>,
    budget: &'b mut Budget,
    /// Second pass: the (start, finish) of the pair being listed again. Child checks
    /// are then look-ups only.
    replaying: Option<(u32, u32)>,
}

/// Can a reader using `new` read data written with `old`? Every incompatibility, with
/// its location in `new` (the reader); `Err` when `budget` ran out first.
pub(crate) fn backward(
    old: &AvroSchema,
    new: &AvroSchema,
    budget: &mut Budget,
) -> Result<Vec<Incompatibility>, TooComplex> {
    let mut c = Checker {
        r: new,
        w: old,
        memo: Memo::with_capacity_and_hasher(256, BuildHasherDefault::default()),
        bad: Vec::new(),
        bases: Vec::new(),
        loc: Vec::new(),
        depth: 0,
        clock: 0,
        stop: None,
        budget,
        replaying: None,
    };
    let mut out = Out::default();
    c.get(Tok::Root, &new.root, &old.root, &mut out);
    let root = (id(c.r, &new.root), id(c.w, &old.root));
    let found = match c.stop.take() {
        Some(Stop::Exhausted(e)) => return Err(e),
        Some(Stop::Abort(a)) => vec![a],
        None => match c.memo.get(&root) {
            Some(&Entry::Incompatible(i)) => c.list(i)?,
            _ => Vec::new(),
        },
    };
    Ok(found.into_iter().map(Found::into_incompatibility).collect())
}

/// A schema node seen through its schema's arena.
#[derive(Clone, Copy)]
enum Node<'a> {
    Prim(Type),
    Array(&'a Schema),
    Map(&'a Schema),
    Union(&'a [Schema]),
    Named(&'a NamedType),
}

fn node<'a>(s: &'a AvroSchema, sch: &'a Schema) -> Option<Node<'a>> {
    Some(match sch {
        Schema::Prim { prim, .. } => Node::Prim(prim.ty()),
        Schema::Array { items, .. } => Node::Array(items),
        Schema::Map { values, .. } => Node::Map(values),
        Schema::Union { branches, .. } => Node::Union(branches),
        Schema::Named(i) => Node::Named(s.types.get(*i)?),
    })
}

fn ty(n: Node<'_>) -> Type {
    match n {
        Node::Prim(t) => t,
        Node::Array(_) => Type::Array,
        Node::Map(_) => Type::Map,
        Node::Union(_) => Type::Union,
        Node::Named(t) => t.ty(),
    }
}

fn id(s: &AvroSchema, sch: &Schema) -> u32 {
    match sch {
        Schema::Prim { id, .. }
        | Schema::Array { id, .. }
        | Schema::Map { id, .. }
        | Schema::Union { id, .. } => *id,
        Schema::Named(i) => s.types.get(*i).map_or(u32::MAX, |t| t.id),
    }
}

/// The message of the exception Avro's `lookupWriterField` throws when reader field
/// `rf` (at position `pos`) matches several fields of writer record `wd`: the field as
/// Java's `Field.toString` prints it and the writer record as `Schema.toString` does
/// (everything inlined).
pub(crate) fn multiple_fields(
    r: &AvroSchema,
    w: &AvroSchema,
    rf: &Field,
    pos: usize,
    wd: &NamedType,
) -> String {
    let field_type = node(r, &rf.schema).map_or("NULL", |n| ty(n).upper());
    let record = match w.types.iter().position(|t| t.id == wd.id) {
        Some(i) => JavaPrinter::new(&w.types, 0).print(&Schema::Named(i)),
        None => String::new(),
    };
    format!(
        "Reader record field {} type:{field_type} pos:{pos} matches multiple fields in writer record schema {record}",
        rf.name
    )
}

/// `INT`, or `RECORD com.acme.Order` for named types: how messages name a type.
fn describe(n: Node<'_>) -> String {
    match n {
        Node::Named(t) => format!("{} {}", t.ty().upper(), t.name.full),
        other => ty(other).upper().to_string(),
    }
}

impl<'a> Checker<'a, '_> {
    fn path(&self) -> String {
        // Java's getLocation: the root token is skipped.
        let mut s = String::from("/");
        for (i, t) in self.loc.iter().skip(1).enumerate() {
            if i > 0 {
                s.push('/');
            }
            match t {
                Tok::Root => {}
                Tok::Items => s.push_str("items"),
                Tok::Values => s.push_str("values"),
                Tok::Size => s.push_str("size"),
                Tok::Symbols => s.push_str("symbols"),
                Tok::Name => s.push_str("name"),
                Tok::Fields => s.push_str("fields"),
                Tok::Type => s.push_str("type"),
                Tok::Idx(n) => s.push_str(&n.to_string()),
            }
        }
        s
    }

    /// Charges `n` steps to the budget; when it runs out, the check stops.
    fn spend(&mut self, n: usize) {
        if self.stop.is_none() {
            if let Err(e) = self.budget.spend(n as u64) {
                self.stop = Some(Stop::Exhausted(e));
            }
        }
    }

    fn tick(&mut self) -> u32 {
        self.clock = self.clock.saturating_add(1);
        self.clock
    }

    /// Records an incompatibility of the pair being checked, at the current location
    /// plus `suffix`. The first pass only notes that there is one; the messages are
    /// written in the second: `message` gives, from the path, Accord's message and
    /// Avro's (which Confluent's message is built around).
    fn own(
        &mut self,
        out: &mut Out,
        suffix: Option<Tok>,
        kind: &'static str,
        message: impl FnOnce(&str) -> (String, String),
    ) {
        out.bad = true;
        if self.replaying.is_none() {
            return;
        }
        self.spend(1);
        if let Some(t) = suffix {
            self.loc.push(t);
        }
        let path = self.path();
        let (message, avro) = message(&path);
        let confluent = super::confluent::message(kind, &path, &avro);
        out.items.push(Item::Found(Found {
            kind,
            path,
            message,
            confluent,
        }));
        if suffix.is_some() {
            self.loc.pop();
        }
    }

    /// The second pass's look-up of a child pair: incompatible unless its check was
    /// still running when the pair being listed was first checked (Java's in-progress
    /// pairs count as compatible).
    fn refer(&self, key: Key, out: &mut Out) {
        let (Some(&Entry::Incompatible(i)), Some((start, finish))) =
            (self.memo.get(&key), self.replaying)
        else {
            return;
        };
        let Some(b) = self.bad.get(i as usize) else {
            return;
        };
        // The pair itself, or one whose check encloses its check: in progress then.
        if b.start <= start && b.finish >= finish {
            return;
        }
        out.bad = true;
        out.items.push(Item::Pair(i));
    }

    /// Notes an incompatible pair for the second pass (its memory is charged as steps).
    fn remember(&mut self, key: Key, start: u32, target: Target<'a>) {
        self.spend(2 + self.loc.len());
        let finish = self.tick();
        let index = u32::try_from(self.bad.len()).unwrap_or(u32::MAX);
        let at = u32::try_from(self.bases.len()).unwrap_or(u32::MAX);
        let len = u32::try_from(self.loc.len()).unwrap_or(u32::MAX);
        self.bases.extend_from_slice(&self.loc);
        self.bad.push(Bad {
            start,
            finish,
            base: (at, len),
            target,
        });
        self.memo.insert(key, Entry::Incompatible(index));
    }

    /// Java's memoising `getCompatibility(token, reader, writer, location)`.
    fn get(&mut self, tok: Tok, r: &'a Schema, w: &'a Schema, out: &mut Out) {
        self.spend(1);
        self.loc.push(tok);
        let key = (id(self.r, r), id(self.w, w));
        if self.replaying.is_some() {
            self.refer(key, out);
            self.loc.pop();
            return;
        }
        match self.memo.get(&key) {
            Some(Entry::InProgress | Entry::Compatible) => {}
            Some(Entry::Incompatible(_)) => out.bad = true,
            None if self.depth >= MAX_CHECK_DEPTH => {
                if self.stop.is_none() {
                    let path = self.path();
                    self.stop = Some(Stop::Abort(Found {
                        kind: "SCHEMA_TOO_DEEP",
                        message: format!(
                            "The schemas nest types more than {MAX_CHECK_DEPTH} levels deep; the check stopped at path '{path}'"
                        ),
                        path,
                        confluent: None,
                    }));
                }
            }
            None => {
                self.spend(1);
                self.memo.insert(key, Entry::InProgress);
                let start = self.tick();
                self.depth += 1;
                let mut sub = Out::default();
                self.calc(r, w, &mut sub);
                self.depth -= 1;
                if sub.bad {
                    self.remember(key, start, Target::Pair(r, w));
                    out.bad = true;
                } else {
                    self.tick();
                    self.memo.insert(key, Entry::Compatible);
                }
            }
        }
        self.loc.pop();
    }

    /// Java's two-argument `getCompatibility(reader, writer)`: a fresh location stack.
    fn get_fresh(&mut self, r: &'a Schema, w: &'a Schema, out: &mut Out) {
        let saved = std::mem::take(&mut self.loc);
        self.get(Tok::Root, r, w, out);
        self.loc = saved;
    }

    /// [`Self::get_fresh`] when only the verdict is used: is the pair incompatible?
    fn probe_fresh(&mut self, r: &'a Schema, w: &'a Schema) -> bool {
        let mut out = Out::default();
        self.get_fresh(r, w, &mut out);
        out.bad
    }

    fn type_mismatch(&mut self, out: &mut Out, r: Node<'_>, w: Node<'_>) {
        self.own(out, None, "TYPE_MISMATCH", |path| {
            (
                format!(
                    "The type (path '{path}') of a field in the reader schema does not match with the writer schema: reader type: {} not compatible with writer type: {}",
                    describe(r),
                    describe(w)
                ),
                format!(
                    "reader type: {} not compatible with writer type: {}",
                    ty(r).upper(),
                    ty(w).upper()
                ),
            )
        });
    }

    fn missing_branch(&mut self, out: &mut Out, w: Node<'_>) {
        self.own(out, None, "MISSING_UNION_BRANCH", |path| {
            (
                format!(
                    "The reader schema is missing a type inside a union field at path '{path}' in the writer schema: reader union lacking writer type: {}",
                    describe(w)
                ),
                format!("reader union lacking writer type: {}", ty(w).upper()),
            )
        });
    }

    fn calc(&mut self, r: &'a Schema, w: &'a Schema, out: &mut Out) {
        if self.stop.is_some() {
            return;
        }
        let (Some(rn), Some(wn)) = (node(self.r, r), node(self.w, w)) else {
            return;
        };
        if ty(rn) == ty(wn) {
            self.same_type(r, rn, wn, out)
        } else {
            self.different_types(r, w, rn, wn, out)
        }
    }

    // The branches of `calc` live in separate functions so that each recursion level
    // only pays for the stack frame of the branch it takes.

    #[inline(never)]
    fn same_type(&mut self, r: &'a Schema, rn: Node<'a>, wn: Node<'a>, out: &mut Out) {
        match (rn, wn) {
            (Node::Array(ri), Node::Array(wi)) => self.get(Tok::Items, ri, wi, out),
            (Node::Map(rv), Node::Map(wv)) => self.get(Tok::Values, rv, wv, out),
            (Node::Named(rd), Node::Named(wd)) => self.named(rd, wd, out),
            (Node::Union(_), Node::Union(wbs)) => self.unions(r, wbs, out),
            _ => {}
        }
    }

    #[inline(never)]
    fn named(&mut self, rd: &'a NamedType, wd: &'a NamedType, out: &mut Out) {
        self.names(rd, wd, out);
        match (&rd.kind, &wd.kind) {
            (NamedKind::Fixed { size: rs }, NamedKind::Fixed { size: ws }) if rs != ws => {
                let (rs, ws) = (*rs, *ws);
                self.own(out, Some(Tok::Size), "FIXED_SIZE_MISMATCH", |path| {
                    (
                        format!(
                            "The size of FIXED type field at path '{path}' in the reader schema does not match with the writer schema: fixed {}: expected: {ws}, found: {rs}",
                            rd.name.full
                        ),
                        format!("expected: {ws}, found: {rs}"),
                    )
                });
            }
            (
                NamedKind::Enum {
                    symbols: rs,
                    default: rdef,
                },
                NamedKind::Enum { symbols: ws, .. },
            ) => self.symbols(rd, rs, rdef.as_deref(), ws, out),
            (
                NamedKind::Record { fields: rf, .. },
                NamedKind::Record {
                    fields: wf,
                    index: wi,
                    ..
                },
            ) => self.fields(rd, rf, wd, wf, wi, out),
            _ => {}
        }
    }

    #[inline(never)]
    fn symbols(
        &mut self,
        rd: &NamedType,
        reader_symbols: &[String],
        reader_default: Option<&str>,
        writer_symbols: &[String],
        out: &mut Out,
    ) {
        self.spend(reader_symbols.len() + writer_symbols.len());
        let reader: std::collections::HashSet<&str> =
            reader_symbols.iter().map(String::as_str).collect();
        let mut missing: Vec<&str> = writer_symbols
            .iter()
            .map(String::as_str)
            .filter(|s| !reader.contains(s))
            .collect();
        let has_default = reader_default.is_some_and(|d| reader.contains(d));
        if missing.is_empty() || has_default {
            return;
        }
        self.own(out, Some(Tok::Symbols), "MISSING_ENUM_SYMBOLS", |path| {
            missing.sort_by(|a, b| super::print::java_cmp(a, b));
            missing.dedup();
            let set = format!("[{}]", missing.join(", "));
            (
                format!(
                    "The reader schema is missing enum symbols '{set}' at path '{path}' in the writer schema (enum {})",
                    rd.name.full
                ),
                set,
            )
        });
    }

    #[inline(never)]
    fn unions(&mut self, r: &'a Schema, writer_branches: &'a [Schema], out: &mut Out) {
        for (i, wb) in writer_branches.iter().enumerate() {
            if self.stop.is_some() {
                break;
            }
            self.loc
                .push(Tok::Idx(u32::try_from(i).unwrap_or(u32::MAX)));
            if self.probe_fresh(r, wb) {
                if let Some(wbn) = node(self.w, wb) {
                    self.missing_branch(out, wbn);
                }
            }
            self.loc.pop();
        }
    }

    #[inline(never)]
    fn different_types(
        &mut self,
        r: &'a Schema,
        w: &'a Schema,
        rn: Node<'a>,
        wn: Node<'a>,
        out: &mut Out,
    ) {
        if let Node::Union(wbs) = wn {
            // A reader that can read every branch of a writer union can read the union.
            for wb in wbs {
                if self.stop.is_some() {
                    break;
                }
                self.get_fresh(r, wb, out);
            }
            return;
        }
        let (rt, wt) = (ty(rn), ty(wn));
        let promoted = match rt {
            Type::Long => wt == Type::Int,
            Type::Float => matches!(wt, Type::Int | Type::Long),
            Type::Double => matches!(wt, Type::Int | Type::Long | Type::Float),
            Type::Bytes => wt == Type::String,
            Type::String => wt == Type::Bytes,
            _ => false,
        };
        if promoted {
            return;
        }
        if let Node::Union(rbs) = rn {
            for rb in rbs {
                if !self.probe_fresh(rb, w) {
                    return;
                }
            }
            self.missing_branch(out, wn);
            return;
        }
        self.type_mismatch(out, rn, wn)
    }

    /// The pair check Java makes for a missing enum field with an enum default: the
    /// reader enum against the writer record, memoised like any pair.
    fn enum_against_record(&mut self, reader: &'a Schema, wd: &'a NamedType, out: &mut Out) {
        self.spend(1);
        self.loc.push(Tok::Type);
        let key = (id(self.r, reader), wd.id);
        if self.replaying.is_some() {
            self.refer(key, out);
        } else {
            match self.memo.get(&key) {
                Some(Entry::Incompatible(_)) => out.bad = true,
                Some(Entry::InProgress | Entry::Compatible) => {}
                None => {
                    let start = self.tick();
                    if node(self.r, reader).is_some() {
                        self.remember(key, start, Target::EnumAgainstRecord(reader, wd));
                        out.bad = true;
                    } else {
                        self.tick();
                        self.memo.insert(key, Entry::Compatible);
                    }
                }
            }
        }
        self.loc.pop();
    }

    /// Java's `schemaNameEquals`: the simple names match, or a reader alias is the
    /// writer's full name.
    fn names(&mut self, rd: &NamedType, wd: &NamedType, out: &mut Out) {
        self.spend(rd.aliases.len());
        if rd.name.name == wd.name.name || rd.aliases.iter().any(|a| a.full == wd.name.full) {
            return;
        }
        self.own(out, Some(Tok::Name), "NAME_MISMATCH", |path| {
            (
                format!(
                    "The name of the schema has changed (path '{path}'): reader {} {} has neither the writer's name nor an alias for it (expected: {})",
                    rd.ty().lower(),
                    rd.name.full,
                    wd.name.full
                ),
                format!("expected: {}", wd.name.full),
            )
        });
    }

    #[inline(never)]
    fn fields(
        &mut self,
        rd: &'a NamedType,
        reader_fields: &'a [Field],
        wd: &'a NamedType,
        writer_fields: &'a [Field],
        writer_index: &'a super::model::FieldIndex,
        out: &mut Out,
    ) {
        self.loc.push(Tok::Fields);
        for (pos, rf) in reader_fields.iter().enumerate() {
            if self.stop.is_some() {
                break;
            }
            self.spend(1 + rf.aliases.len());
            self.loc
                .push(Tok::Idx(u32::try_from(pos).unwrap_or(u32::MAX)));
            // Java's lookupWriterField: by name, then by each alias; matching more
            // than one writer field is an error. Deviation: Java also throws when the
            // name and an alias find the *same* writer field (an alias equal to the
            // field's own name), which makes such a schema incompatible with itself;
            // we count distinct writer fields (found by the check_pair fuzzer).
            let direct = writer_index.get(&rf.name).copied();
            let mut found = direct;
            let mut count = usize::from(direct.is_some());
            for alias in &rf.aliases {
                if let Some(&p) = writer_index.get(alias) {
                    if found != Some(p) {
                        count += 1;
                    }
                    found = Some(p);
                }
            }
            match (count, found) {
                (0, _) => {
                    if rf.default.is_none() {
                        let enum_default = match &rf.schema {
                            Schema::Named(i) => matches!(
                                self.r.types.get(*i).map(|t| &t.kind),
                                Some(NamedKind::Enum {
                                    default: Some(_),
                                    ..
                                })
                            ),
                            _ => false,
                        };
                        if enum_default {
                            // Java compares the enum with the writer *record* here.
                            self.enum_against_record(&rf.schema, wd, out);
                        } else {
                            self.own(out, None, "READER_FIELD_MISSING_DEFAULT_VALUE", |path| {
                                (
                                    format!(
                                        "The field '{}' at path '{path}' in the reader schema has no default value and is missing in the writer schema (record {})",
                                        rf.name, rd.name.full
                                    ),
                                    rf.name.clone(),
                                )
                            });
                        }
                    }
                }
                (1, Some(wpos)) => {
                    if let Some(wf) = writer_fields.get(wpos) {
                        self.get(Tok::Type, &rf.schema, &wf.schema, out);
                    }
                }
                _ => {
                    // Only the first pass gets here (the second stops at the abort).
                    let path = self.path();
                    let confluent =
                        super::confluent::exception(&multiple_fields(self.r, self.w, rf, pos, wd));
                    self.stop = Some(Stop::Abort(Found {
                        kind: "READER_FIELD_MATCHES_MULTIPLE_WRITER_FIELDS",
                        message: format!(
                            "Unexpected exception during compatibility check: reader field '{}' at path '{path}' of record {} matches multiple fields in the writer record (by name and aliases)",
                            rf.name, rd.name.full
                        ),
                        path,
                        confluent,
                    }));
                }
            }
            self.loc.pop();
        }
        self.loc.pop();
    }

    // ---- the second pass ----

    /// The items of incompatible pair `i`, found by checking it again at its first
    /// location with its children as look-ups.
    fn replay(&mut self, i: u32) -> Rc<[Item]> {
        let Some(b) = self.bad.get(i as usize) else {
            return Rc::from(Vec::new());
        };
        let (start, finish, target) = (b.start, b.finish, b.target);
        let (at, len) = (b.base.0 as usize, b.base.1 as usize);
        self.loc = self.bases.get(at..at + len).unwrap_or(&[]).to_vec();
        self.replaying = Some((start, finish));
        let mut out = Out::default();
        match target {
            Target::Pair(r, w) => self.calc(r, w, &mut out),
            Target::EnumAgainstRecord(reader, wd) => {
                if let Some(rn) = node(self.r, reader) {
                    self.type_mismatch(&mut out, rn, Node::Named(wd));
                }
            }
        }
        Rc::from(out.items)
    }

    /// Every incompatibility of pair `root`, in Java's order: its items, with each
    /// child pair's list spliced in where the child was met. Iterative, since chains
    /// of pairs may be long.
    fn list(&mut self, root: u32) -> Result<Vec<Found>, TooComplex> {
        let mut lists: HashMap<u32, Rc<[Item]>, BuildHasherDefault<PairHasher>> =
            HashMap::default();
        let mut result = Vec::new();
        let mut stack: Vec<(Rc<[Item]>, usize)> = Vec::new();
        let first = self.replay(root);
        lists.insert(root, first.clone());
        stack.push((first, 0));
        while let Some((items, pos)) = stack.last_mut() {
            if let Some(Stop::Exhausted(e)) = self.stop.take() {
                return Err(e);
            }
            let Some(item) = items.get(*pos) else {
                stack.pop();
                continue;
            };
            *pos += 1;
            match item {
                Item::Found(f) => {
                    self.spend(1);
                    result.push(f.clone());
                }
                &Item::Pair(child) => {
                    self.spend(1);
                    let child_items = match lists.get(&child) {
                        Some(l) => l.clone(),
                        None => {
                            let l = self.replay(child);
                            lists.insert(child, l.clone());
                            l
                        }
                    };
                    stack.push((child_items, 0));
                }
            }
        }
        match self.stop.take() {
            Some(Stop::Exhausted(e)) => Err(e),
            _ => Ok(result),
        }
    }
}
