//! Test oracle: the checker as it was before it became two passes (every pair's full
//! list kept in the memo and copied at every hit, exactly as Java does). Simple and
//! slow; the differential test in `tests.rs` holds [`super::check`] to its output.

use super::model::{Field, NamedKind, NamedType, Schema, Type};
use super::AvroSchema;
use crate::Incompatibility;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

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

type Memo = HashMap<(u32, u32), Entry, BuildHasherDefault<PairHasher>>;

/// Pair checks nested deeper than this (only reachable through long chains of named
/// types; JSON nesting alone stays far below it) stop the whole check with the single
/// incompatibility `SCHEMA_TOO_DEEP` instead of overflowing the stack. 400 levels fit
/// in a 2 MiB thread stack (tokio's default) even in unoptimised builds.
const MAX_CHECK_DEPTH: usize = 400;

#[derive(Clone, Copy)]
enum Tok {
    Root,
    Lit(&'static str),
    Idx(usize),
}

#[derive(Clone, Debug)]
struct Found {
    kind: &'static str,
    path: String,
    message: String,
    confluent: Option<String>,
}

enum Entry {
    InProgress,
    Done(Vec<Found>),
}

struct Checker<'a> {
    r: &'a AvroSchema,
    w: &'a AvroSchema,
    memo: Memo,
    loc: Vec<Tok>,
    depth: usize,
    /// Java throws (and Confluent reports only the exception) when a reader field
    /// matches more than one writer field; this holds that single report, or the
    /// `SCHEMA_TOO_DEEP` one. Once set, the rest of the check is skipped.
    abort: Option<Found>,
}

/// Can a reader using `new` read data written with `old`? Every incompatibility, with
/// its location in `new` (the reader).
pub(crate) fn backward(old: &AvroSchema, new: &AvroSchema) -> Vec<Incompatibility> {
    let mut c = Checker {
        r: new,
        w: old,
        memo: Memo::with_capacity_and_hasher(256, BuildHasherDefault::default()),
        loc: Vec::new(),
        depth: 0,
        abort: None,
    };
    let found = c.get(Tok::Root, &new.root, &old.root);
    let found = match c.abort.take() {
        Some(a) => vec![a],
        None => found,
    };
    found
        .into_iter()
        .map(|f| {
            let found = Incompatibility::new(f.kind, f.path, f.message);
            match f.confluent {
                Some(text) => found.with_confluent(text),
                None => found,
            }
        })
        .collect()
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

/// `INT`, or `RECORD com.acme.Order` for named types: how messages name a type.
fn describe(n: Node<'_>) -> String {
    match n {
        Node::Named(t) => format!("{} {}", t.ty().upper(), t.name.full),
        other => ty(other).upper().to_string(),
    }
}

impl<'a> Checker<'a> {
    fn path(&self) -> String {
        // Java's getLocation: the root token is skipped.
        let mut s = String::from("/");
        for (i, t) in self.loc.iter().skip(1).enumerate() {
            if i > 0 {
                s.push('/');
            }
            match t {
                Tok::Root => {}
                Tok::Lit(l) => s.push_str(l),
                Tok::Idx(n) => s.push_str(&n.to_string()),
            }
        }
        s
    }

    /// A finding at the current location; `avro` is Avro's own message for it, from
    /// which Confluent's is built.
    fn found(&self, kind: &'static str, message: String, avro: &str) -> Found {
        let path = self.path();
        let confluent = super::confluent::message(kind, &path, avro);
        Found {
            kind,
            path,
            message,
            confluent,
        }
    }

    /// Java's memoising `getCompatibility(token, reader, writer, location)`.
    fn get(&mut self, tok: Tok, r: &'a Schema, w: &'a Schema) -> Vec<Found> {
        self.loc.push(tok);
        let key = (id(self.r, r), id(self.w, w));
        let result = match self.memo.get(&key) {
            Some(Entry::InProgress) => Vec::new(),
            Some(Entry::Done(v)) => v.clone(),
            None if self.depth >= MAX_CHECK_DEPTH => {
                if self.abort.is_none() {
                    self.abort = Some(self.found(
                        "SCHEMA_TOO_DEEP",
                        format!(
                            "The schemas nest types more than {MAX_CHECK_DEPTH} levels deep; the check stopped at path '{}'",
                            self.path()
                        ),
                        "",
                    ));
                }
                Vec::new()
            }
            None => {
                self.memo.insert(key, Entry::InProgress);
                self.depth += 1;
                let v = self.calc(r, w);
                self.depth -= 1;
                self.memo.insert(key, Entry::Done(v.clone()));
                v
            }
        };
        self.loc.pop();
        result
    }

    /// Java's two-argument `getCompatibility(reader, writer)`: a fresh location stack.
    fn get_fresh(&mut self, r: &'a Schema, w: &'a Schema) -> Vec<Found> {
        let saved = std::mem::take(&mut self.loc);
        let v = self.get(Tok::Root, r, w);
        self.loc = saved;
        v
    }

    fn type_mismatch(&self, r: Node<'_>, w: Node<'_>) -> Vec<Found> {
        let path = self.path();
        vec![self.found(
            "TYPE_MISMATCH",
            format!(
                "The type (path '{path}') of a field in the reader schema does not match with the writer schema: reader type: {} not compatible with writer type: {}",
                describe(r),
                describe(w)
            ),
            &format!(
                "reader type: {} not compatible with writer type: {}",
                ty(r).upper(),
                ty(w).upper()
            ),
        )]
    }

    fn missing_branch(&self, w: Node<'_>) -> Found {
        let path = self.path();
        self.found(
            "MISSING_UNION_BRANCH",
            format!(
                "The reader schema is missing a type inside a union field at path '{path}' in the writer schema: reader union lacking writer type: {}",
                describe(w)
            ),
            &format!("reader union lacking writer type: {}", ty(w).upper()),
        )
    }

    fn calc(&mut self, r: &'a Schema, w: &'a Schema) -> Vec<Found> {
        if self.abort.is_some() {
            return Vec::new();
        }
        let (Some(rn), Some(wn)) = (node(self.r, r), node(self.w, w)) else {
            return Vec::new();
        };
        if ty(rn) == ty(wn) {
            self.same_type(r, rn, wn)
        } else {
            self.different_types(r, w, rn, wn)
        }
    }

    // The branches of `calc` live in separate functions so that each recursion level
    // only pays for the stack frame of the branch it takes.

    #[inline(never)]
    fn same_type(&mut self, r: &'a Schema, rn: Node<'a>, wn: Node<'a>) -> Vec<Found> {
        match (rn, wn) {
            (Node::Array(ri), Node::Array(wi)) => self.get(Tok::Lit("items"), ri, wi),
            (Node::Map(rv), Node::Map(wv)) => self.get(Tok::Lit("values"), rv, wv),
            (Node::Named(rd), Node::Named(wd)) => self.named(rd, wd),
            (Node::Union(_), Node::Union(wbs)) => self.unions(r, wbs),
            _ => Vec::new(),
        }
    }

    #[inline(never)]
    fn named(&mut self, rd: &'a NamedType, wd: &'a NamedType) -> Vec<Found> {
        let mut result = self.names(rd, wd);
        match (&rd.kind, &wd.kind) {
            (NamedKind::Fixed { size: rs }, NamedKind::Fixed { size: ws }) if rs != ws => {
                result.push(self.fixed_size(rd, *rs, *ws));
            }
            (
                NamedKind::Enum {
                    symbols: rs,
                    default: rdef,
                },
                NamedKind::Enum { symbols: ws, .. },
            ) => result.extend(self.symbols(rd, rs, rdef.as_deref(), ws)),
            (
                NamedKind::Record { fields: rf, .. },
                NamedKind::Record {
                    fields: wf,
                    index: wi,
                    ..
                },
            ) => result.extend(self.fields(rd, rf, wd, wf, wi)),
            _ => {}
        }
        result
    }

    #[inline(never)]
    fn fixed_size(&mut self, rd: &NamedType, rs: u32, ws: u32) -> Found {
        self.loc.push(Tok::Lit("size"));
        let path = self.path();
        let f = self.found(
            "FIXED_SIZE_MISMATCH",
            format!(
                "The size of FIXED type field at path '{path}' in the reader schema does not match with the writer schema: fixed {}: expected: {ws}, found: {rs}",
                rd.name.full
            ),
            &format!("expected: {ws}, found: {rs}"),
        );
        self.loc.pop();
        f
    }

    #[inline(never)]
    fn symbols(
        &mut self,
        rd: &NamedType,
        reader_symbols: &[String],
        reader_default: Option<&str>,
        writer_symbols: &[String],
    ) -> Option<Found> {
        let reader: std::collections::HashSet<&str> =
            reader_symbols.iter().map(String::as_str).collect();
        let mut missing: Vec<&str> = writer_symbols
            .iter()
            .map(String::as_str)
            .filter(|s| !reader.contains(s))
            .collect();
        let has_default = reader_default.is_some_and(|d| reader.contains(d));
        if missing.is_empty() || has_default {
            return None;
        }
        missing.sort_by(|a, b| super::print::java_cmp(a, b));
        missing.dedup();
        self.loc.push(Tok::Lit("symbols"));
        let path = self.path();
        let f = self.found(
            "MISSING_ENUM_SYMBOLS",
            format!(
                "The reader schema is missing enum symbols '[{}]' at path '{path}' in the writer schema (enum {})",
                missing.join(", "),
                rd.name.full
            ),
            &format!("[{}]", missing.join(", ")),
        );
        self.loc.pop();
        Some(f)
    }

    #[inline(never)]
    fn unions(&mut self, r: &'a Schema, writer_branches: &'a [Schema]) -> Vec<Found> {
        let mut result = Vec::new();
        for (i, wb) in writer_branches.iter().enumerate() {
            if self.abort.is_some() {
                break;
            }
            self.loc.push(Tok::Idx(i));
            if !self.get_fresh(r, wb).is_empty() {
                if let Some(wbn) = node(self.w, wb) {
                    result.push(self.missing_branch(wbn));
                }
            }
            self.loc.pop();
        }
        result
    }

    #[inline(never)]
    fn different_types(
        &mut self,
        r: &'a Schema,
        w: &'a Schema,
        rn: Node<'a>,
        wn: Node<'a>,
    ) -> Vec<Found> {
        if let Node::Union(wbs) = wn {
            // A reader that can read every branch of a writer union can read the union.
            let mut result = Vec::new();
            for wb in wbs {
                if self.abort.is_some() {
                    break;
                }
                result.extend(self.get_fresh(r, wb));
            }
            return result;
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
            return Vec::new();
        }
        if let Node::Union(rbs) = rn {
            for rb in rbs {
                if self.get_fresh(rb, w).is_empty() {
                    return Vec::new();
                }
            }
            return vec![self.missing_branch(wn)];
        }
        self.type_mismatch(rn, wn)
    }

    /// The pair check Java makes for a missing enum field with an enum default: the
    /// reader enum against the writer record, memoised like any pair.
    fn enum_against_record(&mut self, reader: &'a Schema, wd: &'a NamedType) -> Vec<Found> {
        self.loc.push(Tok::Lit("type"));
        let key = (id(self.r, reader), wd.id);
        let result = match self.memo.get(&key) {
            Some(Entry::Done(v)) => v.clone(),
            Some(Entry::InProgress) => Vec::new(),
            None => {
                let v = match node(self.r, reader) {
                    Some(rn) => self.type_mismatch(rn, Node::Named(wd)),
                    None => Vec::new(),
                };
                self.memo.insert(key, Entry::Done(v.clone()));
                v
            }
        };
        self.loc.pop();
        result
    }

    /// Java's `schemaNameEquals`: the simple names match, or a reader alias is the
    /// writer's full name.
    fn names(&mut self, rd: &NamedType, wd: &NamedType) -> Vec<Found> {
        if rd.name.name == wd.name.name || rd.aliases.iter().any(|a| a.full == wd.name.full) {
            return Vec::new();
        }
        self.loc.push(Tok::Lit("name"));
        let path = self.path();
        let f = self.found(
            "NAME_MISMATCH",
            format!(
                "The name of the schema has changed (path '{path}'): reader {} {} has neither the writer's name nor an alias for it (expected: {})",
                rd.ty().lower(),
                rd.name.full,
                wd.name.full
            ),
            &format!("expected: {}", wd.name.full),
        );
        self.loc.pop();
        vec![f]
    }

    #[inline(never)]
    fn fields(
        &mut self,
        rd: &'a NamedType,
        reader_fields: &'a [Field],
        wd: &'a NamedType,
        writer_fields: &'a [Field],
        writer_index: &'a super::model::FieldIndex,
    ) -> Vec<Found> {
        let mut result = Vec::new();
        self.loc.push(Tok::Lit("fields"));
        for (pos, rf) in reader_fields.iter().enumerate() {
            if self.abort.is_some() {
                break;
            }
            self.loc.push(Tok::Idx(pos));
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
                            result.extend(self.enum_against_record(&rf.schema, wd));
                        } else {
                            let path = self.path();
                            result.push(self.found(
                                "READER_FIELD_MISSING_DEFAULT_VALUE",
                                format!(
                                    "The field '{}' at path '{path}' in the reader schema has no default value and is missing in the writer schema (record {})",
                                    rf.name, rd.name.full
                                ),
                                &rf.name,
                            ));
                        }
                    }
                }
                (1, Some(wpos)) => {
                    if let Some(wf) = writer_fields.get(wpos) {
                        result.extend(self.get(Tok::Lit("type"), &rf.schema, &wf.schema));
                    }
                }
                _ => {
                    let path = self.path();
                    let mut f = self.found(
                        "READER_FIELD_MATCHES_MULTIPLE_WRITER_FIELDS",
                        format!(
                            "Unexpected exception during compatibility check: reader field '{}' at path '{path}' of record {} matches multiple fields in the writer record (by name and aliases)",
                            rf.name, rd.name.full
                        ),
                        "",
                    );
                    f.confluent = super::confluent::exception(&super::check::multiple_fields(
                        self.r, self.w, rf, pos, wd,
                    ));
                    self.abort = Some(f);
                }
            }
            self.loc.pop();
        }
        self.loc.pop();
        result
    }
}
