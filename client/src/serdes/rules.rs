//! Data-contract rules: the extension point through which a schema's `ruleSet`
//! (confluent-compat.md §7.2) runs inside the serializers.
//!
//! # Shape
//!
//! * A [`RuleExecutor`] handles one rule `type` (`CEL`, `CEL_FIELD`, `ENCRYPT`,
//!   `ENCRYPT_PAYLOAD`, or anything a user invents). Domain and migration rules reach
//!   [`RuleExecutor::transform`] with the value in its generic form ([`RuleMessage`]:
//!   an apache-avro `Value`, a prost-reflect `DynamicMessage` or a `serde_json::Value`),
//!   which the executor may check (`CONDITION`) or change in place (`TRANSFORM`).
//!   Encoding rules reach [`RuleExecutor::transform_payload`] with the serialized payload,
//!   before the frame prefix is added on write and after it is removed on read (§6.6).
//! * Field-level rules (encryption, `CEL_FIELD`) implement the smaller [`FieldTransform`]
//!   and are wrapped in [`FieldRuleExecutor`], which walks the message for every format and
//!   calls the transform on each primitive field whose tags (inline `confluent:tags` or
//!   the schema metadata's tag paths, wildcards included) meet the rule's tags.
//! * The walk follows a *field plan*: which fields of the schema a rule touches (by tag
//!   and path, through records, unions, arrays, maps and named or nested types for Avro
//!   and Protobuf; through properties, `items`, `$ref`s and `allOf`/`anyOf`/`oneOf`
//!   branches for JSON Schema), with their full names and tags, made on the rule's first
//!   record and kept with the parsed schema (see `FieldPlans`). A record then costs the
//!   fields the rule touches, not every field it has. (A JSON Schema plan keeps every
//!   branch of a combinator; the value's JSON type still picks one per record.) `ENCRYPT`
//!   and `CEL_FIELD` rules, and any [`FieldRuleExecutor`], walk this way.
//! * A [`RuleAction`] is what `onSuccess`/`onFailure` name besides the built-in `NONE`
//!   and `ERROR` (Java's `DLQ`, for instance).
//! * A [`RuleRegistry`] holds executors and actions and travels in the
//!   [`SerdeConfig`](super::SerdeConfig). New executors are added there; the serializers'
//!   public API does not change when they arrive.
//!
//! Executors return boxed futures because the real ones need the network on first use
//! (the DEK registry for `ENCRYPT`); everything after that is cached by the executor.
//!
//! # Semantics (Confluent's `executeRules`, Java and Python clients)
//!
//! * Domain rules run at WRITE in list order and at READ in reverse order; a rule runs when
//!   its `mode` is the current mode or `WRITEREAD`. Migration rules run UPGRADE (a newer
//!   reader) or DOWNGRADE (an older reader) between the versions crossed, with `UPDOWN`
//!   matching both. Disabled rules are skipped.
//! * A `CONDITION` whose executor answers `false`, or any executor error, runs the rule's
//!   `onFailure` action (default `ERROR`: the record fails with [`ClientError::Rule`]);
//!   success runs `onSuccess` (default `NONE`). For `WRITEREAD`/`UPDOWN` rules an action
//!   may be a `"<write>,<read>"` pair.
//! * **A rule whose `type` has no registered executor** is a failure of that rule: its
//!   `onFailure` action runs with "Could not find rule executor of type X" (so by default
//!   the record fails; with `onFailure: NONE` it passes) and, as in Confluent's clients,
//!   the remaining rules of that list are not run. This holds for both kinds: a missing
//!   `CONDITION` check must not silently pass, and a missing `TRANSFORM` (an unencrypted
//!   PII field) must not silently be written.
//! * Of several field `TRANSFORM` rules with the same type, mode and tags, only the first
//!   (on write) or last (on read) runs, as in Confluent.
//! * `ruleSet.enableAt` is not interpreted (every rule runs in the client).

use super::SerdeType;
use crate::error::{ClientError, Result};
use crate::types::RegisteredSchema;
use accord_contracts::{Metadata, Rule, RuleSet};
use futures::future::BoxFuture;
use prost_reflect::{DynamicMessage, MessageDescriptor, ReflectMessage};
use std::any::Any;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, OnceLock};

/// What the serializer is doing when a rule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleMode {
    /// Serializing.
    Write,
    /// Deserializing.
    Read,
    /// Migrating a value from an older writer version to a newer reader.
    Upgrade,
    /// Migrating a value from a newer writer version to an older reader.
    Downgrade,
}

impl RuleMode {
    /// Confluent's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleMode::Write => "WRITE",
            RuleMode::Read => "READ",
            RuleMode::Upgrade => "UPGRADE",
            RuleMode::Downgrade => "DOWNGRADE",
        }
    }

    fn runs(self, rule_mode: &str) -> bool {
        // Per rule and record: compared in place, not upper-cased into a new string.
        if rule_mode.eq_ignore_ascii_case("WRITEREAD") {
            matches!(self, RuleMode::Write | RuleMode::Read)
        } else if rule_mode.eq_ignore_ascii_case("UPDOWN") {
            matches!(self, RuleMode::Upgrade | RuleMode::Downgrade)
        } else {
            rule_mode.eq_ignore_ascii_case(self.as_str())
        }
    }

    fn first_of_pair(self) -> bool {
        matches!(self, RuleMode::Write | RuleMode::Upgrade)
    }
}

/// Which list of the ruleSet is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RulePhase {
    /// `migrationRules`.
    Migration,
    /// `domainRules`.
    Domain,
    /// `encodingRules`.
    Encoding,
}

/// Everything a rule may need to know about the record it runs on.
#[derive(Clone, Copy)]
pub struct RuleContext<'a> {
    /// The Kafka topic of the record.
    pub topic: &'a str,
    /// The subject the schema belongs to.
    pub subject: &'a str,
    /// Key or value.
    pub serde_type: SerdeType,
    /// Write, read, upgrade or downgrade.
    pub mode: RuleMode,
    /// Which rule list.
    pub phase: RulePhase,
    /// For migrations: the schema the value comes from.
    pub source: Option<&'a RegisteredSchema>,
    /// The schema whose rules run (the writer schema on write; the reader schema on read).
    pub target: &'a RegisteredSchema,
    /// The rule itself.
    pub rule: &'a Rule,
    /// Its position in `rules` (in execution order).
    pub index: usize,
    /// The list being run, in execution order.
    pub rules: &'a [Rule],
    target_metadata: Option<&'a Metadata>,
    /// The target's field plans, when the message is in the target's own schema.
    plans: Option<&'a FieldPlans>,
}

impl fmt::Debug for RuleContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleContext")
            .field("topic", &self.topic)
            .field("subject", &self.subject)
            .field("mode", &self.mode)
            .field("phase", &self.phase)
            .field("rule", &self.rule.name)
            .field("target_id", &self.target.id)
            .finish_non_exhaustive()
    }
}

impl<'a> RuleContext<'a> {
    /// A rule parameter, falling back to the target schema's metadata properties (as
    /// Confluent's `getParameter` does).
    pub fn parameter(&self, name: &str) -> Option<&'a str> {
        self.rule.params.get(name).map(String::as_str).or_else(|| {
            self.target_metadata
                .and_then(|m| m.properties.get(name))
                .map(String::as_str)
        })
    }

    /// The target schema's metadata, parsed.
    pub fn metadata(&self) -> Option<&'a Metadata> {
        self.target_metadata
    }

    /// Whether the rule is a `CONDITION` (otherwise a `TRANSFORM`).
    pub fn is_condition(&self) -> bool {
        self.rule.kind.eq_ignore_ascii_case("CONDITION")
    }

    /// The tags the target's metadata gives the field path `full_name` (keys may use the
    /// `*`, `**` and `?` wildcards).
    pub fn metadata_tags(&self, full_name: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        if let Some(m) = self.target_metadata {
            for (pattern, tags) in &m.tags {
                if wildcard_match(full_name, pattern) {
                    out.extend(tags.iter().cloned());
                }
            }
        }
        out
    }

    /// The field plan of this rule for the schema `schema` names: the target's cached one
    /// when the message is in the target's own schema, else one built for this record.
    pub(crate) fn plan<T: Send + Sync + 'static>(
        &self,
        schema: PlanSchema,
        build: impl FnOnce() -> T,
    ) -> Planned<'a, T> {
        match self.plans {
            Some(plans) => plans.get_or_build(schema, &self.rule.tags, build),
            None => Planned::Fresh(Box::new(build())),
        }
    }

    /// State an executor derives from the rule and the target alone (its parsed
    /// parameters, say): made on the rule's first record and kept with the target's field
    /// plans; made per record where there are none (migrations).
    pub(crate) fn rule_state<T: Send + Sync + 'static>(
        &self,
        build: impl FnOnce() -> T,
    ) -> Planned<'a, T> {
        self.plan(PlanSchema::Rule(self.rule as *const Rule as usize), build)
    }

    /// The message a failed condition reports: the rule's doc, else its expression,
    /// else its name (Confluent's `RuleConditionException`).
    pub fn condition_failure_message(&self) -> String {
        if let Some(doc) = self.rule.doc.as_deref().filter(|d| !d.is_empty()) {
            doc.to_owned()
        } else if let Some(expr) = self.rule.expr.as_deref().filter(|e| !e.is_empty()) {
            format!("Rule expr failed: {expr}")
        } else {
            format!("Rule failed: {}", rule_name(self.rule))
        }
    }
}

/// The JSON Schema a JSON value is checked against, with the schemas its `$ref`s name.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonSchemaDoc {
    /// The schema.
    pub root: serde_json::Value,
    /// `(reference name, referenced schema)`, transitive closure.
    pub references: Vec<(String, serde_json::Value)>,
}

/// A value in the generic form of its format, as domain and migration rules see it.
#[derive(Debug)]
pub enum RuleMessage<'m> {
    /// An Avro value and the (self-contained) schema it is written or read with.
    Avro {
        value: &'m mut apache_avro::types::Value,
        schema: &'m apache_avro::Schema,
    },
    /// A Protobuf message; its descriptor is the schema.
    Protobuf { message: &'m mut DynamicMessage },
    /// A JSON value and its schema.
    Json {
        value: &'m mut serde_json::Value,
        schema: &'m JsonSchemaDoc,
    },
}

/// Runs the rules of one `type`.
pub trait RuleExecutor: Send + Sync {
    /// The rule `type` handled, e.g. `"CEL"` (matched case-insensitively).
    fn rule_type(&self) -> &str;

    /// Runs a domain or migration rule on `message`. A `TRANSFORM` changes the value in
    /// place and answers `true`; a `CONDITION` answers whether it holds. `false` or an
    /// error runs the rule's `onFailure` action.
    fn transform<'a>(
        &'a self,
        ctx: &'a RuleContext<'a>,
        message: &'a mut RuleMessage<'_>,
    ) -> BoxFuture<'a, Result<bool>>;

    /// Runs an encoding rule on the serialized payload (without the frame prefix).
    /// Executors that only handle domain rules keep the default, which refuses.
    fn transform_payload<'a>(
        &'a self,
        ctx: &'a RuleContext<'a>,
        payload: Vec<u8>,
    ) -> BoxFuture<'a, Result<Vec<u8>>> {
        let _ = payload;
        let err = ClientError::Rule {
            rule: rule_name(ctx.rule),
            message: format!(
                "rule executor of type {} does not handle encoding rules",
                self.rule_type()
            ),
        };
        Box::pin(async move { Err(err) })
    }
}

/// An `onSuccess`/`onFailure` action other than the built-in `NONE` and `ERROR`.
pub trait RuleAction: Send + Sync {
    /// The action name, e.g. `"DLQ"` (matched case-insensitively).
    fn action_type(&self) -> &str;

    /// Runs the action; `error` is why the rule failed (none on success). An error
    /// returned here fails the record.
    fn run<'a>(
        &'a self,
        ctx: &'a RuleContext<'a>,
        error: Option<&'a ClientError>,
    ) -> BoxFuture<'a, Result<()>>;
}

/// The type of a field a [`FieldTransform`] is called on (Confluent's `FieldType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    Record,
    Enum,
    Array,
    Map,
    Combined,
    Fixed,
    String,
    Bytes,
    Int,
    Long,
    Float,
    Double,
    Boolean,
    Null,
}

/// A primitive field value, in a form common to the three formats. Enums are
/// [`FieldValue::String`] (the symbol, Avro) or [`FieldValue::Int`] (the number,
/// Protobuf); Avro `fixed` is [`FieldValue::Bytes`].
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    String(String),
    Bytes(Vec<u8>),
}

impl FieldValue {
    pub(crate) fn as_i64(&self) -> Option<i64> {
        match self {
            FieldValue::Int(i) => Some(*i),
            FieldValue::UInt(u) => i64::try_from(*u).ok(),
            _ => None,
        }
    }

    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self {
            FieldValue::Int(i) => u64::try_from(*i).ok(),
            FieldValue::UInt(u) => Some(*u),
            _ => None,
        }
    }

    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            FieldValue::Float(f) => Some(*f),
            FieldValue::Int(i) => Some(*i as f64),
            FieldValue::UInt(u) => Some(*u as f64),
            _ => None,
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            FieldValue::Null => "null",
            FieldValue::Bool(_) => "boolean",
            FieldValue::Int(_) | FieldValue::UInt(_) => "integer",
            FieldValue::Float(_) => "floating-point number",
            FieldValue::String(_) => "string",
            FieldValue::Bytes(_) => "bytes",
        }
    }
}

/// The field a [`FieldTransform`] is called on.
#[derive(Debug, Clone, Copy)]
pub struct FieldContext<'a> {
    /// The field's full path: `ns.Record.field` (Avro), `pkg.Message.field` (Protobuf),
    /// `$.a.b` (JSON Schema). Metadata tag keys are matched against it.
    pub full_name: &'a str,
    /// The field's own name.
    pub name: &'a str,
    /// Its declared type.
    pub field_type: FieldType,
    /// Inline tags plus the metadata tags matching `full_name`.
    pub tags: &'a BTreeSet<String>,
}

/// A rule applied field by field (Confluent's `FieldRuleExecutor`): wrap it in
/// [`FieldRuleExecutor`] to register it.
pub trait FieldTransform: Send + Sync {
    /// The rule `type` handled.
    fn rule_type(&self) -> &str;

    /// Called once per record before the fields, for work that may need the network
    /// (fetching a key). The default does nothing.
    fn prepare<'a>(&'a self, ctx: &'a RuleContext<'a>) -> BoxFuture<'a, Result<()>> {
        let _ = ctx;
        Box::pin(async { Ok(()) })
    }

    /// Transforms one field. For a `CONDITION` rule, return `FieldValue::Bool(false)`
    /// to fail it (any other value passes and is not written back).
    fn transform_field(
        &self,
        ctx: &RuleContext<'_>,
        field: &FieldContext<'_>,
        value: FieldValue,
    ) -> Result<FieldValue>;
}

/// Adapts a [`FieldTransform`] into a [`RuleExecutor`] that walks every format.
pub struct FieldRuleExecutor<T>(pub T);

impl<T: FieldTransform> RuleExecutor for FieldRuleExecutor<T> {
    fn rule_type(&self) -> &str {
        self.0.rule_type()
    }

    fn transform<'a>(
        &'a self,
        ctx: &'a RuleContext<'a>,
        message: &'a mut RuleMessage<'_>,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            if shadowed_by_same_tag_transform(ctx) {
                return Ok(true);
            }
            self.0.prepare(ctx).await?;
            walk_fields(ctx, message, &self.0)?;
            Ok(true)
        })
    }
}

/// Calls `transform` on every primitive field of `message` whose tags meet the rule's
/// (what [`FieldRuleExecutor`] does after `prepare`), for executors that need the whole
/// message first (the entity-scoped `ENCRYPT` reads the entity from a top-level field).
pub(crate) fn walk_fields(
    ctx: &RuleContext<'_>,
    message: &mut RuleMessage<'_>,
    transform: &dyn FieldTransform,
) -> Result<()> {
    walk_with(ctx, message, transform, None)
}

/// [`walk_fields`] for a transform that only reads string and bytes values: they are
/// lent to it, not copied.
pub(crate) fn walk_fields_lent(
    ctx: &RuleContext<'_>,
    message: &mut RuleMessage<'_>,
    transform: &dyn LendingTransform,
) -> Result<()> {
    walk_with(ctx, message, transform, Some(transform))
}

fn walk_with(
    ctx: &RuleContext<'_>,
    message: &mut RuleMessage<'_>,
    transform: &dyn FieldTransform,
    lending: Option<&dyn LendingTransform>,
) -> Result<()> {
    let visitor = FieldVisitor {
        ctx,
        transform,
        lending,
    };
    match message {
        RuleMessage::Avro { value, schema } => {
            let plan = ctx.plan(PlanSchema::address(*schema), || {
                super::avro::plan(schema, &visitor)
            });
            super::avro::walk(&plan, value, &visitor)
        }
        RuleMessage::Protobuf { message } => {
            let root = message.descriptor();
            let plan = ctx.plan(PlanSchema::Protobuf(root.clone()), || {
                super::protobuf::plan(&root, &visitor)
            });
            super::protobuf::walk(&plan, message, &visitor)
        }
        // Without kept plans (migrations), a plan made for one record would cost more
        // than the walk it saves.
        RuleMessage::Json { value, schema } if ctx.plans.is_none() => {
            super::json::walk(schema, value, &visitor)
        }
        RuleMessage::Json { value, schema } => {
            let plan = ctx.plan(PlanSchema::address(*schema), || {
                super::json::plan(schema, &visitor)
            });
            super::json::walk_planned(&plan, schema, value, &visitor)
        }
    }
}

/// What a field plan was made for: the schema a message is in (by address, for schemas
/// owned by a parsed entry that also owns the plans; by descriptor for Protobuf).
#[derive(PartialEq)]
pub(crate) enum PlanSchema {
    Address(usize),
    Protobuf(MessageDescriptor),
    /// Not a plan: an executor's state for the rule at this address (which the target owns).
    Rule(usize),
}

impl PlanSchema {
    pub(crate) fn address<T>(schema: &T) -> Self {
        PlanSchema::Address(schema as *const T as usize)
    }
}

/// How many plans one schema keeps (one per rule tag set and, for Protobuf, message
/// type, plus each `ENCRYPT` rule's parsed parameters); past that, they are made per
/// record.
const PLAN_SLOTS: usize = 32;

/// The field plans of one registered schema's rules: for each (schema the message is in,
/// rule tags), which fields a field-level rule touches, with their full names and tags
/// (see the format walkers). Built on a rule's first record and shared by every later
/// record of the schema, so that a record's walk visits only those fields.
///
/// A plan depends on the schema, the rule's tags and the target's metadata (its tag
/// paths); it lives in the target's [`SchemaRules`] (one metadata) and is used only for
/// messages in the target's own schema ([`Subject::OwnMessage`]); migrations, whose
/// message is in another version's schema, build theirs per record.
///
/// Slots are filled once and never emptied, so a record finds its plan with a few
/// atomic loads and borrows it: no lock, no reference count.
#[derive(Default)]
pub(crate) struct FieldPlans {
    slots: OnceLock<Box<[OnceLock<PlanEntry>]>>,
}

struct PlanEntry {
    schema: PlanSchema,
    tags: BTreeSet<String>,
    plan: Box<dyn Any + Send + Sync>,
}

impl PlanEntry {
    fn get<T: 'static>(&self, schema: &PlanSchema, tags: &BTreeSet<String>) -> Option<&T> {
        if self.schema == *schema && self.tags == *tags {
            self.plan.downcast_ref::<T>()
        } else {
            None
        }
    }
}

/// A plan kept with the schema, or made for one record.
pub(crate) enum Planned<'a, T> {
    Kept(&'a T),
    Fresh(Box<T>),
}

impl<T> std::ops::Deref for Planned<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        match self {
            Planned::Kept(t) => t,
            Planned::Fresh(t) => t,
        }
    }
}

impl fmt::Debug for FieldPlans {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kept = self
            .slots
            .get()
            .map_or(0, |s| s.iter().filter(|e| e.get().is_some()).count());
        f.debug_struct("FieldPlans").field("plans", &kept).finish()
    }
}

impl FieldPlans {
    fn get_or_build<T: Send + Sync + 'static>(
        &self,
        schema: PlanSchema,
        tags: &BTreeSet<String>,
        build: impl FnOnce() -> T,
    ) -> Planned<'_, T> {
        let slots = self
            .slots
            .get_or_init(|| (0..PLAN_SLOTS).map(|_| OnceLock::new()).collect());
        // The plan to store: not built yet (its key and builder), or built and not stored.
        let mut pending: std::result::Result<PlanEntry, _> = Err((schema, build));
        for slot in slots.iter() {
            // Filled slots come first: the first free one is where a new plan goes.
            if slot.get().is_none() {
                let entry = match pending {
                    Ok(e) => e,
                    Err((schema, build)) => PlanEntry {
                        schema,
                        tags: tags.clone(),
                        plan: Box::new(build()),
                    },
                };
                // Another record may have filled it meanwhile (with this plan or another).
                pending = match slot.set(entry) {
                    Ok(()) => match slot.get().and_then(|e| e.plan.downcast_ref::<T>()) {
                        Some(p) => return Planned::Kept(p),
                        None => unreachable!("the plan just stored"),
                    },
                    Err(e) => Ok(e),
                };
            }
            let Some(e) = slot.get() else { continue };
            let wanted = match &pending {
                Ok(made) => &made.schema,
                Err((schema, _)) => schema,
            };
            if let Some(p) = e.get::<T>(wanted, tags) {
                return Planned::Kept(p);
            }
        }
        // Every slot taken by other plans: this record's own.
        match pending {
            Ok(made) => match made.plan.downcast::<T>() {
                Ok(p) => Planned::Fresh(p),
                Err(_) => unreachable!("built as a T"),
            },
            Err((_, build)) => Planned::Fresh(Box::new(build())),
        }
    }
}

pub(crate) fn shadowed_by_same_tag_transform(ctx: &RuleContext<'_>) -> bool {
    let same = |other: &Rule| {
        let r = ctx.rule;
        !r.tags.is_empty()
            && r.kind.eq_ignore_ascii_case("TRANSFORM")
            && other.kind.eq_ignore_ascii_case("TRANSFORM")
            && r.mode.eq_ignore_ascii_case(&other.mode)
            && r.rule_type == other.rule_type
            && r.tags == other.tags
    };
    match ctx.mode {
        RuleMode::Write | RuleMode::Upgrade => ctx.rules.iter().take(ctx.index).any(same),
        RuleMode::Read | RuleMode::Downgrade => ctx.rules.iter().skip(ctx.index + 1).any(same),
    }
}

/// A string or bytes value lent to a [`LendingTransform`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum FieldRef<'v> {
    String(&'v str),
    Bytes(&'v [u8]),
}

impl FieldRef<'_> {
    pub(crate) fn to_owned(self) -> FieldValue {
        match self {
            FieldRef::String(s) => FieldValue::String(s.to_owned()),
            FieldRef::Bytes(b) => FieldValue::Bytes(b.to_vec()),
        }
    }
}

/// A built-in field transform that only reads the string and bytes values it is given
/// (encryption, decryption): the walkers lend it those values instead of copying each
/// into a [`FieldValue`]. Other values, and `CONDITION` rules, go through
/// [`FieldTransform::transform_field`] as always.
pub(crate) trait LendingTransform: FieldTransform {
    /// What [`FieldTransform::transform_field`] would return for `value`, or `None` where
    /// it would return `value` itself (the field is left as it is).
    fn transform_lent(
        &self,
        ctx: &RuleContext<'_>,
        field: &FieldContext<'_>,
        value: FieldRef<'_>,
    ) -> Result<Option<FieldValue>>;
}

/// What the format walkers call at each primitive leaf.
pub(crate) struct FieldVisitor<'a> {
    ctx: &'a RuleContext<'a>,
    transform: &'a dyn FieldTransform,
    lending: Option<&'a dyn LendingTransform>,
}

impl FieldVisitor<'_> {
    /// The tags of a field: `inline` plus the metadata tags of its path.
    pub(crate) fn tags(&self, full_name: &str, inline: BTreeSet<String>) -> BTreeSet<String> {
        let mut tags = inline;
        tags.extend(self.ctx.metadata_tags(full_name));
        tags
    }

    /// Whether a field with these tags is one the rule applies to (the rule's tags meet
    /// them, or the rule has none), checked before a walker copies the field's value.
    pub(crate) fn applies(&self, tags: &BTreeSet<String>) -> bool {
        let rule_tags = &self.ctx.rule.tags;
        rule_tags.is_empty() || !rule_tags.is_disjoint(tags)
    }

    /// Calls the transform when the field's tags meet the rule's (or the rule has none).
    /// Returns the value to write back, if any.
    pub(crate) fn visit(
        &self,
        field: &FieldContext<'_>,
        value: FieldValue,
    ) -> Result<Option<FieldValue>> {
        if !self.applies(field.tags) {
            return Ok(None);
        }
        self.visit_selected(field, value)
    }

    /// [`Self::visit`] for a field already known to be one the rule applies to (a leaf
    /// of a field plan).
    pub(crate) fn visit_selected(
        &self,
        field: &FieldContext<'_>,
        value: FieldValue,
    ) -> Result<Option<FieldValue>> {
        let out = self.transform.transform_field(self.ctx, field, value)?;
        if self.ctx.is_condition() {
            if out == FieldValue::Bool(false) {
                return Err(ClientError::Rule {
                    rule: rule_name(self.ctx.rule),
                    message: format!(
                        "{} (field {})",
                        self.ctx.condition_failure_message(),
                        field.full_name
                    ),
                });
            }
            return Ok(None);
        }
        Ok(Some(out))
    }

    /// [`Self::visit`] for a string or bytes value, lent to the transform when it reads
    /// values in place (no copy). `None`: leave the field as it is (its value written
    /// back unchanged would be the same value).
    pub(crate) fn visit_lent(
        &self,
        field: &FieldContext<'_>,
        value: FieldRef<'_>,
    ) -> Result<Option<FieldValue>> {
        if !self.applies(field.tags) {
            return Ok(None);
        }
        self.visit_lent_selected(field, value)
    }

    /// [`Self::visit_lent`] for a field already known to be one the rule applies to.
    pub(crate) fn visit_lent_selected(
        &self,
        field: &FieldContext<'_>,
        value: FieldRef<'_>,
    ) -> Result<Option<FieldValue>> {
        match self.lending {
            Some(t) if !self.ctx.is_condition() => t.transform_lent(self.ctx, field, value),
            _ => self.visit_selected(field, value.to_owned()),
        }
    }
}

/// Error for a transform result of the wrong type for its field.
pub(crate) fn field_type_error(field: &FieldContext<'_>, got: &FieldValue) -> ClientError {
    ClientError::Serialization(format!(
        "rule transform returned a {} for field {} of type {:?}",
        got.kind(),
        field.full_name,
        field.field_type
    ))
}

/// Executors and actions by type, shared by every serializer configured with it.
#[derive(Clone, Default)]
pub struct RuleRegistry {
    executors: HashMap<String, Arc<dyn RuleExecutor>>,
    actions: HashMap<String, Arc<dyn RuleAction>>,
}

impl fmt::Debug for RuleRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ex: Vec<&String> = self.executors.keys().collect();
        ex.sort();
        let mut ac: Vec<&String> = self.actions.keys().collect();
        ac.sort();
        f.debug_struct("RuleRegistry")
            .field("executors", &ex)
            .field("actions", &ac)
            .finish()
    }
}

impl RuleRegistry {
    /// An empty registry: any rule present on a schema then fails per its `onFailure`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the executor for its type.
    pub fn with_executor(mut self, executor: impl RuleExecutor + 'static) -> Self {
        self.add_executor(Arc::new(executor));
        self
    }

    /// Adds (or replaces) a shared executor for its type.
    pub fn add_executor(&mut self, executor: Arc<dyn RuleExecutor>) {
        self.executors
            .insert(executor.rule_type().to_ascii_uppercase(), executor);
    }

    /// Adds (or replaces) an action.
    pub fn with_action(mut self, action: impl RuleAction + 'static) -> Self {
        let action: Arc<dyn RuleAction> = Arc::new(action);
        self.actions
            .insert(action.action_type().to_ascii_uppercase(), action);
        self
    }

    /// The executor for a rule type.
    pub fn executor(&self, rule_type: &str) -> Option<&Arc<dyn RuleExecutor>> {
        // Per rule and record: keys are upper case, so a few are compared in place
        // rather than the type upper-cased into a new string and hashed.
        if self.executors.len() <= 8 {
            return self
                .executors
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(rule_type))
                .map(|(_, e)| e);
        }
        self.executors.get(&rule_type.to_ascii_uppercase())
    }

    /// A custom action by name.
    pub fn action(&self, name: &str) -> Option<&Arc<dyn RuleAction>> {
        if self.actions.len() <= 8 {
            return self
                .actions
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, a)| a);
        }
        self.actions.get(&name.to_ascii_uppercase())
    }
}

/// A registered schema with its ruleSet and metadata parsed once.
#[derive(Debug)]
pub(crate) struct SchemaRules {
    pub(crate) registered: Arc<RegisteredSchema>,
    pub(crate) rule_set: Option<RuleSet>,
    pub(crate) metadata: Option<Metadata>,
    /// Each list of the rule set in reverse (the READ and DOWNGRADE order), made once.
    reversed: [Vec<Rule>; 3],
    /// Field plans of the rules, for messages in this schema.
    pub(crate) plans: FieldPlans,
}

impl SchemaRules {
    pub(crate) fn new(registered: Arc<RegisteredSchema>) -> Result<Self> {
        let rule_set = RuleSet::from_json(registered.rule_set.as_ref())
            .map_err(|e| ClientError::Schema(format!("schema id {}: {}", registered.id, e.0)))?;
        let metadata = Metadata::from_json(registered.metadata.as_ref())
            .map_err(|e| ClientError::Schema(format!("schema id {}: {}", registered.id, e.0)))?;
        let reversed = [RulePhase::Migration, RulePhase::Domain, RulePhase::Encoding].map(|p| {
            let mut rules = rule_set
                .as_ref()
                .map(|rs| list(rs, p).to_vec())
                .unwrap_or_default();
            rules.reverse();
            rules
        });
        Ok(SchemaRules {
            registered,
            rule_set,
            metadata,
            reversed,
            plans: FieldPlans::default(),
        })
    }

    /// The rules of `phase` in the order `mode` runs them.
    fn ordered(&self, phase: RulePhase, mode: RuleMode) -> &[Rule] {
        let Some(rs) = self.rule_set.as_ref() else {
            return &[];
        };
        if matches!(mode, RuleMode::Read | RuleMode::Downgrade) {
            let i = match phase {
                RulePhase::Migration => 0,
                RulePhase::Domain => 1,
                RulePhase::Encoding => 2,
            };
            &self.reversed[i]
        } else {
            list(rs, phase)
        }
    }

    /// Whether any rule of `phase` would run in `mode` (so the serializer can skip the
    /// generic-value detour when none would).
    pub(crate) fn has_rules(&self, phase: RulePhase, mode: RuleMode) -> bool {
        self.rule_set.as_ref().is_some_and(|rs| {
            list(rs, phase)
                .iter()
                .any(|r| !r.disabled && mode.runs(&r.mode))
        })
    }
}

fn list(rs: &RuleSet, phase: RulePhase) -> &[Rule] {
    match phase {
        RulePhase::Migration => &rs.migration_rules,
        RulePhase::Domain => &rs.domain_rules,
        RulePhase::Encoding => &rs.encoding_rules,
    }
}

/// Where a record is going: what every rule context shares.
#[derive(Clone, Copy)]
pub(crate) struct RuleTarget<'a> {
    pub(crate) registry: &'a RuleRegistry,
    pub(crate) topic: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) serde_type: SerdeType,
}

/// What the rules run on.
pub(crate) enum Subject<'x, 'm> {
    /// A message in another schema than the target's (migrations: the writer's).
    Message(&'x mut RuleMessage<'m>),
    /// A message in the target's own schema: field plans are cached with the target.
    OwnMessage(&'x mut RuleMessage<'m>),
    Payload(&'x mut Vec<u8>),
}

/// Runs the rules of `phase` in `mode`: the target's list (the source's, reversed, for
/// DOWNGRADE; reversed for READ).
pub(crate) async fn run_rules(
    t: RuleTarget<'_>,
    phase: RulePhase,
    mode: RuleMode,
    source: Option<&SchemaRules>,
    target: &SchemaRules,
    subject: Subject<'_, '_>,
) -> Result<()> {
    let owner = if mode == RuleMode::Downgrade {
        match source {
            Some(s) => s,
            None => return Ok(()),
        }
    } else {
        target
    };
    let Some(rs) = owner.rule_set.as_ref() else {
        return Ok(());
    };
    if list(rs, phase).is_empty() {
        return Ok(());
    }
    // Rules to run: out of line, so the per-record futures that await this stay small
    // for the schemas (most) that have none.
    Box::pin(run_listed(t, phase, mode, source, target, owner, subject)).await
}

async fn run_listed(
    t: RuleTarget<'_>,
    phase: RulePhase,
    mode: RuleMode,
    source: Option<&SchemaRules>,
    target: &SchemaRules,
    owner: &SchemaRules,
    mut subject: Subject<'_, '_>,
) -> Result<()> {
    let rules = owner.ordered(phase, mode);
    let plans = match subject {
        Subject::OwnMessage(_) => Some(&target.plans),
        _ => None,
    };
    for (index, rule) in rules.iter().enumerate() {
        if rule.disabled || !mode.runs(&rule.mode) {
            continue;
        }
        let ctx = RuleContext {
            topic: t.topic,
            subject: t.subject,
            serde_type: t.serde_type,
            mode,
            phase,
            source: source.map(|s| s.registered.as_ref()),
            target: target.registered.as_ref(),
            rule,
            index,
            rules,
            target_metadata: target.metadata.as_ref(),
            plans,
        };
        let Some(rule_type) = rule.rule_type.as_deref() else {
            let err = rule_error(rule, "the rule has no type".into());
            run_action(&t, &ctx, rule.on_failure.as_deref(), Some(err), "ERROR").await?;
            return Ok(());
        };
        let Some(executor) = t.registry.executor(rule_type) else {
            let err = rule_error(
                rule,
                format!("Could not find rule executor of type {rule_type}"),
            );
            run_action(&t, &ctx, rule.on_failure.as_deref(), Some(err), "ERROR").await?;
            return Ok(());
        };
        let outcome = match &mut subject {
            Subject::Message(m) | Subject::OwnMessage(m) => executor.transform(&ctx, m).await,
            Subject::Payload(p) => {
                let input = std::mem::take(*p);
                executor.transform_payload(&ctx, input).await.map(|out| {
                    **p = out;
                    true
                })
            }
        };
        match outcome {
            Ok(true) => {
                run_action(&t, &ctx, rule.on_success.as_deref(), None, "NONE").await?;
            }
            Ok(false) => {
                let err = rule_error(rule, ctx.condition_failure_message());
                run_action(&t, &ctx, rule.on_failure.as_deref(), Some(err), "ERROR").await?;
            }
            Err(e) => {
                run_action(&t, &ctx, rule.on_failure.as_deref(), Some(e), "ERROR").await?;
            }
        }
    }
    Ok(())
}

fn rule_name(rule: &Rule) -> String {
    rule.name.clone().unwrap_or_default()
}

fn rule_error(rule: &Rule, message: String) -> ClientError {
    ClientError::Rule {
        rule: rule_name(rule),
        message,
    }
}

async fn run_action(
    t: &RuleTarget<'_>,
    ctx: &RuleContext<'_>,
    action: Option<&str>,
    error: Option<ClientError>,
    default: &str,
) -> Result<()> {
    let name = action_name(ctx, action).unwrap_or(default);
    if name.eq_ignore_ascii_case("NONE") {
        return Ok(());
    }
    if name.eq_ignore_ascii_case("ERROR") {
        return Err(match error {
            // Shredded keys, an unreachable registry or KMS, and a configuration that
            // cannot work stay recognisable: callers match on them (retry, alert).
            Some(
                e @ (ClientError::Rule { .. }
                | ClientError::Shredded { .. }
                | ClientError::Unreachable(_)
                | ClientError::Config(_)),
            ) => e,
            Some(other) => rule_error(ctx.rule, other.to_string()),
            None => rule_error(ctx.rule, "the rule's action is ERROR".into()),
        });
    }
    let Some(a) = t.registry.action(name) else {
        return Err(rule_error(
            ctx.rule,
            format!("Could not find rule action of type {name}"),
        ));
    };
    a.run(ctx, error.as_ref()).await
}

/// The action for the current mode: `"<write/up>,<read/down>"` pairs are split for
/// WRITEREAD and UPDOWN rules; empty means the default.
fn action_name<'a>(ctx: &RuleContext<'_>, action: Option<&'a str>) -> Option<&'a str> {
    let action = action.map(str::trim).filter(|a| !a.is_empty())?;
    let paired = ctx.rule.mode.eq_ignore_ascii_case("WRITEREAD")
        || ctx.rule.mode.eq_ignore_ascii_case("UPDOWN");
    match action.split_once(',') {
        Some((first, second)) if paired => {
            let a = if ctx.mode.first_of_pair() {
                first
            } else {
                second
            };
            Some(a.trim()).filter(|a| !a.is_empty())
        }
        _ => Some(action),
    }
}

/// Matches a dotted name against a Confluent tag pattern: `?` is one character and `*`
/// any run of characters within one name segment, `**` any run across segments, `\`
/// escapes the next character; the whole name must match.
pub fn wildcard_match(text: &str, pattern: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        Any,
        Segment,
        One,
        Lit(char),
    }
    let pattern = pattern.replace("**.*", "**");
    let mut toks = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                toks.push(Tok::Any);
            }
            '*' => toks.push(Tok::Segment),
            '?' => toks.push(Tok::One),
            '\\' => toks.push(Tok::Lit(chars.next().unwrap_or('\\'))),
            c => toks.push(Tok::Lit(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    // reach[j]: the tokens so far can match text[..j].
    let mut reach = vec![false; text.len() + 1];
    reach[0] = true;
    for tok in toks {
        let mut next = vec![false; text.len() + 1];
        for j in 0..=text.len() {
            if !reach[j] {
                continue;
            }
            match tok {
                Tok::Any | Tok::Segment => {
                    next[j] = true;
                    let mut k = j;
                    while k < text.len() && (tok == Tok::Any || text[k] != '.') {
                        k += 1;
                        next[k] = true;
                    }
                }
                Tok::One => {
                    if j < text.len() && text[j] != '.' {
                        next[j + 1] = true;
                    }
                }
                Tok::Lit(c) => {
                    if j < text.len() && text[j] == c {
                        next[j + 1] = true;
                    }
                }
            }
        }
        reach = next;
    }
    reach[text.len()]
}

/// Rule contexts and the recording field transform for the walkers' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Calls `f` with a visitor running `transform` for `rule` (a domain rule at WRITE) on
    /// a schema whose metadata is `metadata`.
    pub(crate) fn with_visitor<R>(
        rule: &Rule,
        metadata: Option<&Metadata>,
        transform: &dyn FieldTransform,
        f: impl FnOnce(&FieldVisitor<'_>) -> R,
    ) -> R {
        with_visitor_lending(rule, metadata, transform, None, f)
    }

    /// [`with_visitor`], with string and bytes values lent to `lending` when given.
    pub(crate) fn with_visitor_lending<R>(
        rule: &Rule,
        metadata: Option<&Metadata>,
        transform: &dyn FieldTransform,
        lending: Option<&dyn LendingTransform>,
        f: impl FnOnce(&FieldVisitor<'_>) -> R,
    ) -> R {
        let target = RegisteredSchema {
            id: 1,
            guid: None,
            format: accord_compat::SchemaFormat::Avro,
            schema: String::new(),
            references: Vec::new(),
            metadata: None,
            rule_set: None,
            subject: None,
            version: None,
        };
        let rules = std::slice::from_ref(rule);
        let ctx = RuleContext {
            topic: "t",
            subject: "t-value",
            serde_type: SerdeType::Value,
            mode: RuleMode::Write,
            phase: RulePhase::Domain,
            source: None,
            target: &target,
            rule,
            index: 0,
            rules,
            target_metadata: metadata,
            plans: None,
        };
        f(&FieldVisitor {
            ctx: &ctx,
            transform,
            lending,
        })
    }

    /// A rule of type `REC` (the [`Recorder`]'s) on the fields tagged `tags`.
    pub(crate) fn rule(tags: &[&str]) -> Rule {
        serde_json::from_value(serde_json::json!({
            "name": "r", "kind": "TRANSFORM", "mode": "WRITEREAD", "type": "REC", "tags": tags
        }))
        .expect("rule")
    }

    /// The field transform of the walkers' plan tests (Avro, JSON Schema, Protobuf): it
    /// records each call and changes the value, so a missed, extra or misplaced call and a
    /// wrong write-back all show. `"boom"` fails; `"wrong"` returns a value of another
    /// type (bytes for JSON, an int otherwise); `"ccc"` is returned unchanged. What it
    /// makes of each value depends a little on the format, for what each walker must
    /// handle: Avro enum symbols stay (another symbol would not be in the enum) and
    /// fixed bytes are reversed (they keep their size); Protobuf enum numbers flip
    /// between 0 and 1; JSON unsigned integers are halved.
    pub(crate) struct Recorder {
        pub(crate) calls: std::sync::Mutex<Vec<String>>,
        format: accord_compat::SchemaFormat,
    }

    impl Recorder {
        pub(crate) fn new(format: accord_compat::SchemaFormat) -> Recorder {
            Recorder {
                calls: std::sync::Mutex::new(Vec::new()),
                format,
            }
        }
    }

    impl FieldTransform for Recorder {
        fn rule_type(&self) -> &str {
            "REC"
        }

        fn transform_field(
            &self,
            _ctx: &RuleContext<'_>,
            field: &FieldContext<'_>,
            value: FieldValue,
        ) -> Result<FieldValue> {
            use accord_compat::SchemaFormat::{Avro, Json, Protobuf};
            self.calls.lock().expect("lock").push(format!(
                "{} {} {:?} {:?} {:?}",
                field.full_name, field.name, field.field_type, field.tags, value
            ));
            let format = self.format;
            let kind = field.field_type;
            Ok(match value {
                FieldValue::String(s) if s == "boom" => {
                    return Err(ClientError::Serialization(format!(
                        "boom at {}",
                        field.full_name
                    )))
                }
                FieldValue::String(s) if s == "wrong" && format == Json => {
                    FieldValue::Bytes(vec![1])
                }
                FieldValue::String(s) if s == "wrong" => FieldValue::Int(1),
                FieldValue::String(s) if s == "ccc" => FieldValue::String(s),
                FieldValue::String(s) if format == Avro && kind == FieldType::Enum => {
                    FieldValue::String(s)
                }
                FieldValue::String(s) => FieldValue::String(format!("<{s}>")),
                FieldValue::Bytes(mut b) if format == Avro && kind == FieldType::Fixed => {
                    b.reverse();
                    FieldValue::Bytes(b)
                }
                FieldValue::Bytes(mut b) if format != Json => {
                    b.push(7);
                    FieldValue::Bytes(b)
                }
                FieldValue::Int(i) if format == Protobuf && kind == FieldType::Enum => {
                    FieldValue::Int(1 - i)
                }
                FieldValue::Int(i) => FieldValue::Int(i + 1),
                FieldValue::UInt(u) if format == Json => FieldValue::UInt(u / 2),
                FieldValue::UInt(u) if format == Protobuf => FieldValue::UInt(u + 1),
                FieldValue::Float(x) => FieldValue::Float(x + 1.0),
                FieldValue::Bool(b) => FieldValue::Bool(!b),
                other => other,
            })
        }
    }

    /// Lent values: what `transform_field` returns, `None` where that is the value itself.
    impl LendingTransform for Recorder {
        fn transform_lent(
            &self,
            ctx: &RuleContext<'_>,
            field: &FieldContext<'_>,
            value: FieldRef<'_>,
        ) -> Result<Option<FieldValue>> {
            let out = self.transform_field(ctx, field, value.to_owned())?;
            Ok((out != value.to_owned()).then_some(out))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_as_confluent() {
        assert!(wildcard_match("eve", "eve*"));
        assert!(wildcard_match("alice.bob.eve", "a*.bob.eve"));
        assert!(wildcard_match("alice.bob.eve", "a*.bob.e*"));
        assert!(!wildcard_match("alice.bob.eve", "a*"));
        assert!(wildcard_match("alice.bob.eve", "a**"));
        assert!(!wildcard_match("alice.bob.eve", "alice.bob*"));
        assert!(wildcard_match("alice.bob.eve", "alice.bob**"));
        assert!(wildcard_match("com.acme.Order.email", "**.email"));
        assert!(wildcard_match("a.b", "?.b"));
        assert!(!wildcard_match("ab.b", "?.b"));
        assert!(wildcard_match("a*b", "a\\*b"));
        assert!(!wildcard_match("axb", "a\\*b"));
    }

    #[test]
    fn plans_are_kept_per_schema_and_tags() {
        let plans = FieldPlans::default();
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let built = std::sync::atomic::AtomicUsize::new(0);
        let get = |schema: usize, t: &[&str], v: u32| {
            plans.get_or_build(PlanSchema::Address(schema), &tags(t), || {
                built.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                v
            })
        };
        assert!(matches!(get(1, &["PII"], 10), Planned::Kept(10)));
        assert!(matches!(get(1, &["PII"], 11), Planned::Kept(10)));
        assert!(matches!(get(1, &["X"], 12), Planned::Kept(12)));
        assert!(matches!(get(2, &["PII"], 13), Planned::Kept(13)));
        assert_eq!(built.load(std::sync::atomic::Ordering::Relaxed), 3);
        // Another type under the same key is another plan (never a wrong downcast).
        let s = plans.get_or_build(PlanSchema::Address(1), &tags(&["PII"]), || "s");
        assert_eq!(*s, "s");
        for i in 0..PLAN_SLOTS {
            let _ = get(100 + i, &[], 0);
        }
        // Full: made per record, and the kept ones still found.
        assert!(matches!(get(1000, &[], 7), Planned::Fresh(b) if *b == 7));
        assert!(matches!(get(2, &["PII"], 0), Planned::Kept(13)));
        // Records racing for new plans all get theirs, and they are kept (racers may keep
        // a plan twice: 8 x 4 fits the slots).
        let shared = FieldPlans::default();
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for k in 0..4usize {
                        let p = shared.get_or_build(PlanSchema::Address(k), &tags(&[]), || k);
                        assert_eq!(*p, k);
                    }
                });
            }
        });
        let kept = shared.slots.get().expect("slots");
        for k in 0..4usize {
            assert!(kept
                .iter()
                .filter_map(|e| e.get())
                .any(|e| e.get::<usize>(&PlanSchema::Address(k), &tags(&[])) == Some(&k)));
        }
    }

    #[test]
    fn modes() {
        assert!(RuleMode::Write.runs("WRITEREAD"));
        assert!(RuleMode::Read.runs("writeread"));
        assert!(!RuleMode::Upgrade.runs("WRITEREAD"));
        assert!(RuleMode::Downgrade.runs("UPDOWN"));
        assert!(RuleMode::Write.runs("WRITE"));
        assert!(RuleMode::Write.runs("write"));
        assert!(!RuleMode::Read.runs("WRITE"));
        assert!(RuleMode::Upgrade.runs("Upgrade"));
        assert!(!RuleMode::Upgrade.runs("UPGRADES"));
        assert!(!RuleMode::Write.runs(""));
    }
}
