//! Schema lint: style rules a team switches on in its CI manifest (`accord lint`) or in
//! a stream's contract (`accord.evolution.lint`, enforced by the server at registration).
//!
//! # Rules
//!
//! | id | what it asks | Avro | Protobuf | JSON Schema |
//! | --- | --- | --- | --- | --- |
//! | `doc-required` | a non-empty doc on every record/message and field | `doc` | a leading (or trailing) comment | `description` or `title` (root, `definitions`/`$defs` entries, every property) |
//! | `field-naming` | field names in `snake_case` (default) or `camelCase` | fields | fields | property names |
//! | `record-naming` | `PascalCase` type names | records, enums, fixed | messages, enums | `definitions`/`$defs` keys (titles are prose, so not checked) |
//! | `pii-names` | no field that looks like personal data unless tagged `PII` | field `"confluent:tags"` | `[(confluent.field_meta).tags = "PII"]` | property `"confluent:tags"` |
//! | `union-width` | no union wider than `max` (default 3) | union branches | `oneof` members | `oneOf`/`anyOf` entries |
//!
//! `pii-names` splits a name into words (`snake_case`, `camelCase`, `kebab-case`) and
//! matches any run of consecutive words against the patterns, ignoring case and
//! separators: `billing_address`, `emailAddress` and `DateOfBirth` all match. The
//! built-in patterns are [`PII_PATTERNS`]; `patterns: [...]` in the manifest adds more.
//!
//! # Configuration (`lint:` in `accord.yaml`)
//!
//! Each rule is `off`, `warning` or `error`, or a map with `level` and the rule's
//! options: `field-naming: { level: warning, style: camelCase }`,
//! `pii-names: { level: error, patterns: [nickname] }`, `union-width: { level: error, max: 3 }`.
//! With a `lint:` section, rules it does not name are off. Without one (or without a
//! manifest) the default set applies: every rule on as `warning` (snake_case fields,
//! unions up to 3), so `accord lint` informs and exits 0 until a team opts into errors.
//!
//! Findings carry accord-compat's path dialect (`/fields/2` for Avro, `ex.Order.email`
//! for Protobuf, `#/properties/email` for JSON Schema) and the line of the declaration.

pub mod tree;

use crate::extensions::{EvolutionPolicy, FieldStyle, LintLevel, LintRule};
use accord_compat::ParsedSchema;
use serde_yaml::Value as Yaml;
use tree::{Node, ProtoLocations, Value};

/// How a rule reports (the contract's [`LintLevel`]).
pub type Level = LintLevel;

/// One finding of one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `Warning` or `Error` (never `Off`).
    pub level: Level,
    /// The rule id, e.g. `doc-required`.
    pub rule: String,
    /// Where, in accord-compat's path dialect (`/fields/2`, `ex.Order.email`, `#/properties/a`).
    pub path: String,
    /// 1-based line of the declaration in the text linted, when known.
    pub line: Option<u32>,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {}: {}", self.rule, self.path, self.message)
    }
}

/// The built-in `pii-names` patterns (compared without case or separators).
pub const PII_PATTERNS: &[&str] = &[
    "email",
    "email_address",
    "phone",
    "phone_number",
    "mobile",
    "telephone",
    "ssn",
    "social_security",
    "social_security_number",
    "address",
    "street",
    "postcode",
    "zip_code",
    "birth_date",
    "birthdate",
    "birthday",
    "date_of_birth",
    "dob",
    "first_name",
    "last_name",
    "full_name",
    "given_name",
    "family_name",
    "surname",
    "maiden_name",
    "passport",
    "passport_number",
    "national_id",
    "tax_id",
    "drivers_license",
    "iban",
    "credit_card",
    "card_number",
    "cvv",
    "ip_address",
];

/// The `lint:` section of `accord.yaml`.
#[derive(Debug, Clone)]
pub struct LintConfig {
    pub doc_required: Level,
    pub field_naming: Level,
    pub field_style: FieldStyle,
    pub record_naming: Level,
    pub pii_names: Level,
    /// Extra patterns from the manifest, on top of [`PII_PATTERNS`].
    pub pii_patterns: Vec<String>,
    pub union_width: Level,
    pub union_max: usize,
}

impl Default for LintConfig {
    /// The default set: every rule on as a warning.
    fn default() -> Self {
        LintConfig {
            doc_required: Level::Warning,
            field_naming: Level::Warning,
            field_style: FieldStyle::SnakeCase,
            record_naming: Level::Warning,
            pii_names: Level::Warning,
            pii_patterns: Vec::new(),
            union_width: Level::Warning,
            union_max: 3,
        }
    }
}

const RULES: &str = "doc-required, field-naming, record-naming, pii-names, union-width";

impl LintConfig {
    /// Every rule off (the base of an explicit `lint:` section).
    pub fn none() -> Self {
        LintConfig {
            doc_required: Level::Off,
            field_naming: Level::Off,
            record_naming: Level::Off,
            pii_names: Level::Off,
            union_width: Level::Off,
            ..LintConfig::default()
        }
    }

    /// Reads a `lint:` section. Errors name the key (`lint.union-width.max: ...`).
    pub fn from_yaml(value: &Yaml) -> Result<LintConfig, String> {
        let mut config = LintConfig::none();
        let map = match value {
            Yaml::Null => return Ok(config),
            Yaml::Mapping(m) => m,
            _ => return Err("lint: expected a map of rule: level".to_string()),
        };
        for (key, setting) in map {
            let rule = key
                .as_str()
                .ok_or_else(|| "lint: rule names must be strings".to_string())?;
            let at = format!("lint.{rule}");
            let allowed: &[&str] = match rule {
                "doc-required" | "record-naming" => &[],
                "field-naming" => &["style"],
                "pii-names" => &["patterns"],
                "union-width" => &["max"],
                other => {
                    return Err(format!(
                        "lint: unknown rule '{other}' (expected one of {RULES})"
                    ))
                }
            };
            let (level, options) = match setting {
                Yaml::String(s) => (parse_level(s, &at)?, None),
                Yaml::Mapping(m) => {
                    let mut level = None;
                    for (k, v) in m {
                        let k = k.as_str().unwrap_or("");
                        if k == "level" {
                            let s = v.as_str().ok_or_else(|| {
                                format!("{at}.level: expected off, warning or error")
                            })?;
                            level = Some(parse_level(s, &format!("{at}.level"))?);
                        } else if !allowed.contains(&k) {
                            let mut expected = vec!["level"];
                            expected.extend_from_slice(allowed);
                            return Err(format!(
                                "{at}: unknown key '{k}' (expected {})",
                                expected.join(", ")
                            ));
                        }
                    }
                    (level.unwrap_or(Level::Warning), Some(m))
                }
                _ => {
                    return Err(format!(
                        "{at}: expected off, warning, error or a map with level"
                    ))
                }
            };
            let option = |name: &str| options.and_then(|m| m.get(name));
            match rule {
                "doc-required" => config.doc_required = level,
                "record-naming" => config.record_naming = level,
                "field-naming" => {
                    config.field_naming = level;
                    if let Some(style) = option("style") {
                        config.field_style = match style.as_str() {
                            Some("snake_case") => FieldStyle::SnakeCase,
                            Some("camelCase") => FieldStyle::CamelCase,
                            _ => {
                                return Err(format!("{at}.style: expected snake_case or camelCase"))
                            }
                        };
                    }
                }
                "pii-names" => {
                    config.pii_names = level;
                    if let Some(patterns) = option("patterns") {
                        let list = patterns
                            .as_sequence()
                            .ok_or_else(|| format!("{at}.patterns: expected a list of names"))?;
                        for (i, p) in list.iter().enumerate() {
                            match p.as_str() {
                                Some(s) if !normalise(s).is_empty() => {
                                    config.pii_patterns.push(s.to_string())
                                }
                                _ => {
                                    return Err(format!(
                                        "{at}.patterns[{i}]: expected a non-empty name"
                                    ))
                                }
                            }
                        }
                    }
                }
                _ => {
                    config.union_width = level;
                    if let Some(max) = option("max") {
                        config.union_max = max
                            .as_u64()
                            .and_then(|n| usize::try_from(n).ok())
                            .filter(|&n| n >= 1)
                            .ok_or_else(|| format!("{at}.max: expected a positive integer"))?;
                    }
                }
            }
        }
        Ok(config)
    }

    /// The rules of a contract's `accord.evolution`: the rules it names, every other off.
    pub fn from_policy(policy: &EvolutionPolicy) -> LintConfig {
        let mut config = LintConfig::none();
        for (rule, setting) in &policy.lint {
            let level = setting.level;
            match rule {
                LintRule::DocRequired => config.doc_required = level,
                LintRule::RecordNaming => config.record_naming = level,
                LintRule::FieldNaming => {
                    config.field_naming = level;
                    if let Some(style) = setting.style {
                        config.field_style = style;
                    }
                }
                LintRule::PiiNames => {
                    config.pii_names = level;
                    config.pii_patterns.extend(setting.patterns.iter().cloned());
                }
                LintRule::UnionWidth => {
                    config.union_width = level;
                    if let Some(max) = setting.max {
                        config.union_max = (max as usize).max(1);
                    }
                }
            }
        }
        config
    }

    /// (normalised, as written) for every pattern.
    fn pii_set(&self) -> Vec<(String, String)> {
        PII_PATTERNS
            .iter()
            .map(|p| p.to_string())
            .chain(self.pii_patterns.iter().cloned())
            .map(|p| (normalise(&p), p))
            .collect()
    }
}

fn parse_level(s: &str, at: &str) -> Result<Level, String> {
    match s {
        "off" => Ok(Level::Off),
        "warning" | "warn" => Ok(Level::Warning),
        "error" => Ok(Level::Error),
        other => Err(format!(
            "{at}: unknown level '{other}' (expected off, warning or error)"
        )),
    }
}

/// Lowercase, separators removed: the form PII patterns are compared in.
fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// `billingAddress`, `billing_address`, `Billing-Address` → `[billing, address]`.
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let prev = i.checked_sub(1).and_then(|p| chars.get(p));
        let next = chars.get(i + 1);
        let boundary = c.is_uppercase()
            && !cur.is_empty()
            && (prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit())
                || next.is_some_and(|n| n.is_lowercase()));
        if boundary {
            out.push(std::mem::take(&mut cur));
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The longest PII pattern (as written) a run of consecutive words of `name` spells.
fn pii_match<'p>(name: &str, patterns: &'p [(String, String)]) -> Option<&'p str> {
    let w = words(name);
    let mut best: Option<&(String, String)> = None;
    for i in 0..w.len() {
        let mut run = String::new();
        for word in &w[i..] {
            run.push_str(word);
            if let Some(p) = patterns.iter().find(|(n, _)| *n == run) {
                if best.is_none_or(|b| b.0.len() < p.0.len()) {
                    best = Some(p);
                }
            }
        }
    }
    best.map(|(_, shown)| shown.as_str())
}

fn is_snake(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !s.contains("__")
        && !s.ends_with('_')
}

fn is_camel(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

fn is_pascal(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

/// Collects findings for one schema.
struct Linter<'a> {
    config: &'a LintConfig,
    pii: Vec<(String, String)>,
    findings: Vec<Finding>,
}

impl<'a> Linter<'a> {
    fn new(config: &'a LintConfig) -> Self {
        Linter {
            config,
            pii: config.pii_set(),
            findings: Vec::new(),
        }
    }

    fn push(&mut self, level: Level, rule: &str, path: &str, line: Option<u32>, message: String) {
        if level != Level::Off {
            self.findings.push(Finding {
                level,
                rule: rule.to_string(),
                path: path.to_string(),
                message,
                line,
            });
        }
    }

    fn doc(&mut self, what: &str, name: &str, has_doc: bool, path: &str, line: Option<u32>) {
        if !has_doc {
            let how = match what {
                "message" | "message field" => "a leading comment",
                "schema" | "property" | "definition" => "a description",
                _ => "a doc",
            };
            self.push(
                self.config.doc_required,
                "doc-required",
                path,
                line,
                format!("{what} '{name}' has no documentation: add {how}"),
            );
        }
    }

    fn field_name(&mut self, name: &str, path: &str, line: Option<u32>) {
        let (ok, style) = match self.config.field_style {
            FieldStyle::SnakeCase => (is_snake(name), "snake_case"),
            FieldStyle::CamelCase => (is_camel(name), "camelCase"),
        };
        if !ok {
            self.push(
                self.config.field_naming,
                "field-naming",
                path,
                line,
                format!("field '{name}' is not {style}"),
            );
        }
    }

    fn type_name(&mut self, what: &str, name: &str, path: &str, line: Option<u32>) {
        let simple = name.rsplit('.').next().unwrap_or(name);
        if !is_pascal(simple) {
            self.push(
                self.config.record_naming,
                "record-naming",
                path,
                line,
                format!("{what} name '{simple}' is not PascalCase"),
            );
        }
    }

    fn pii(&mut self, name: &str, tagged: bool, path: &str, line: Option<u32>) {
        if tagged || self.config.pii_names == Level::Off {
            return;
        }
        if let Some(pattern) = pii_match(name, &self.pii).map(str::to_string) {
            self.push(
                self.config.pii_names,
                "pii-names",
                path,
                line,
                format!(
                    "field '{name}' looks like personal data ({pattern}) but is not tagged PII"
                ),
            );
        }
    }

    fn union(&mut self, what: &str, width: usize, path: &str, line: Option<u32>) {
        if width > self.config.union_max {
            self.push(
                self.config.union_width,
                "union-width",
                path,
                line,
                format!(
                    "{what} has {width} branches, more than the {} allowed",
                    self.config.union_max
                ),
            );
        }
    }

    // ---- Avro ----

    fn avro(&mut self, node: &Node, path: &str, depth: usize) {
        if depth > 256 {
            return;
        }
        match &node.value {
            Value::Arr(branches) => {
                self.union("union", branches.len(), path, Some(node.line));
                for (i, b) in branches.iter().enumerate() {
                    self.avro(b, &join(path, &i.to_string()), depth + 1);
                }
            }
            Value::Obj(_) => {
                let Some(ty) = node.get("type") else { return };
                let name_line = node.get("name").map(|m| m.line).or(Some(node.line));
                match ty.value.as_str() {
                    Some("record" | "error") => {
                        let name = node.str_of("name").unwrap_or("");
                        self.type_name("record", name, path, name_line);
                        self.doc("record", name, has_text(node, "doc"), path, name_line);
                        let fields = node.get("fields").and_then(|f| f.value.as_array());
                        for (i, field) in fields.unwrap_or(&[]).iter().enumerate() {
                            let fpath = join(path, &format!("fields/{i}"));
                            let fname = field.str_of("name").unwrap_or("");
                            let line = field.get("name").map(|m| m.line).or(Some(field.line));
                            self.field_name(fname, &fpath, line);
                            self.doc("field", fname, has_text(field, "doc"), &fpath, line);
                            self.pii(fname, has_pii_tag(field), &fpath, line);
                            if let Some(t) = field.get("type") {
                                self.avro(&t.value, &join(&fpath, "type"), depth + 1);
                            }
                        }
                    }
                    Some("enum") => {
                        self.type_name("enum", node.str_of("name").unwrap_or(""), path, name_line)
                    }
                    Some("fixed") => {
                        self.type_name("fixed", node.str_of("name").unwrap_or(""), path, name_line)
                    }
                    Some("array") => {
                        if let Some(items) = node.get("items") {
                            self.avro(&items.value, &join(path, "items"), depth + 1);
                        }
                    }
                    Some("map") => {
                        if let Some(values) = node.get("values") {
                            self.avro(&values.value, &join(path, "values"), depth + 1);
                        }
                    }
                    Some(_) => {}
                    // `{"type": {...}}` or `{"type": [...]}`: the inner schema.
                    None => self.avro(&ty.value, path, depth + 1),
                }
            }
            _ => {}
        }
    }

    // ---- JSON Schema ----

    fn json_schema(&mut self, node: &Node, path: &str, depth: usize) {
        if depth > 256 {
            return;
        }
        let Value::Obj(members) = &node.value else {
            return;
        };
        for m in members {
            let here = join(path, &escape_pointer(&m.key));
            match m.key.as_str() {
                "properties" => {
                    for p in m.value.members() {
                        let ppath = join(&here, &escape_pointer(&p.key));
                        let line = Some(p.line);
                        self.field_name(&p.key, &ppath, line);
                        self.doc("property", &p.key, json_has_doc(&p.value), &ppath, line);
                        self.pii(&p.key, has_pii_tag(&p.value), &ppath, line);
                        self.json_schema(&p.value, &ppath, depth + 1);
                    }
                }
                "definitions" | "$defs" => {
                    for d in m.value.members() {
                        let dpath = join(&here, &escape_pointer(&d.key));
                        let line = Some(d.line);
                        self.type_name("definition", &d.key, &dpath, line);
                        self.doc("definition", &d.key, json_has_doc(&d.value), &dpath, line);
                        self.json_schema(&d.value, &dpath, depth + 1);
                    }
                }
                "patternProperties" | "dependentSchemas" => {
                    for d in m.value.members() {
                        let dpath = join(&here, &escape_pointer(&d.key));
                        self.json_schema(&d.value, &dpath, depth + 1);
                    }
                }
                "oneOf" | "anyOf" | "allOf" | "items" | "prefixItems" => {
                    if let Some(list) = m.value.as_array() {
                        if m.key == "oneOf" || m.key == "anyOf" {
                            self.union(&m.key, list.len(), &here, Some(m.line));
                        }
                        for (i, s) in list.iter().enumerate() {
                            self.json_schema(s, &join(&here, &i.to_string()), depth + 1);
                        }
                    } else {
                        self.json_schema(&m.value, &here, depth + 1);
                    }
                }
                "additionalProperties"
                | "additionalItems"
                | "not"
                | "if"
                | "then"
                | "else"
                | "contains"
                | "propertyNames"
                | "unevaluatedProperties"
                | "unevaluatedItems" => self.json_schema(&m.value, &here, depth + 1),
                _ => {}
            }
        }
    }

    // ---- Protobuf ----

    fn protobuf(&mut self, schema: &accord_compat::protobuf::ProtobufSchema) {
        let file = schema.file_descriptor();
        let locs = ProtoLocations::new(file.file_descriptor_proto());
        let tags_ext = file
            .parent_pool()
            .get_extension_by_name("confluent.field_meta");
        for e in file.enums() {
            self.type_name("enum", e.name(), e.full_name(), locs.line(e.path()));
        }
        let mut stack: Vec<prost_reflect::MessageDescriptor> = file.messages().collect();
        stack.reverse();
        while let Some(m) = stack.pop() {
            if m.is_map_entry() {
                continue;
            }
            let line = locs.line(m.path());
            self.type_name("message", m.name(), m.full_name(), line);
            self.doc(
                "message",
                m.name(),
                locs.comment(m.path()).is_some(),
                m.full_name(),
                line,
            );
            for f in m.fields() {
                let line = locs.line(f.path());
                self.field_name(f.name(), f.full_name(), line);
                self.doc(
                    "message field",
                    f.name(),
                    locs.comment(f.path()).is_some(),
                    f.full_name(),
                    line,
                );
                let tagged = tags_ext
                    .as_ref()
                    .is_some_and(|ext| proto_has_pii_tag(&f, ext));
                self.pii(f.name(), tagged, f.full_name(), line);
            }
            for o in m.oneofs() {
                if o.is_synthetic() {
                    continue;
                }
                self.union(
                    &format!("oneof '{}'", o.name()),
                    o.fields().len(),
                    o.full_name(),
                    locs.line(o.path()),
                );
            }
            for e in m.child_enums() {
                self.type_name("enum", e.name(), e.full_name(), locs.line(e.path()));
            }
            let mut children: Vec<_> = m.child_messages().collect();
            children.reverse();
            stack.extend(children);
        }
    }
}

fn proto_has_pii_tag(
    f: &prost_reflect::FieldDescriptor,
    ext: &prost_reflect::ExtensionDescriptor,
) -> bool {
    let options = f.options();
    if !options.has_extension(ext) {
        return false;
    }
    let value = options.get_extension(ext);
    let prost_reflect::Value::Message(meta) = value.as_ref() else {
        return false;
    };
    let Some(tags) = meta.get_field_by_name("tags") else {
        return false;
    };
    let prost_reflect::Value::List(items) = tags.as_ref() else {
        return false;
    };
    items
        .iter()
        .any(|t| t.as_str().is_some_and(|s| s.eq_ignore_ascii_case("PII")))
}

/// `"confluent:tags"` on a field (Avro) or property schema (JSON) includes `PII`.
fn has_pii_tag(node: &Node) -> bool {
    node.get("confluent:tags")
        .and_then(|t| t.value.as_array())
        .is_some_and(|tags| {
            tags.iter()
                .any(|t| t.as_str().is_some_and(|s| s.eq_ignore_ascii_case("PII")))
        })
}

fn has_text(node: &Node, key: &str) -> bool {
    node.str_of(key).is_some_and(|s| !s.trim().is_empty())
}

fn json_has_doc(node: &Node) -> bool {
    // A boolean schema (`true`) has nowhere to put a description; do not ask for one.
    !matches!(node.value, Value::Obj(_)) || has_text(node, "description") || has_text(node, "title")
}

fn escape_pointer(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// `join("/", "fields/0")` = `/fields/0`; `join("#", "properties")` = `#/properties`.
fn join(base: &str, seg: &str) -> String {
    if base.ends_with('/') {
        format!("{base}{seg}")
    } else {
        format!("{base}/{seg}")
    }
}

/// Lints one parsed schema whose source text is `text`; findings carry lines of `text`.
pub fn lint(config: &LintConfig, text: &str, parsed: &ParsedSchema) -> Vec<Finding> {
    let mut linter = Linter::new(config);
    match parsed {
        ParsedSchema::Avro(_) => {
            if let Some(root) = tree::parse_json(text) {
                linter.avro(&root, "/", 0);
            }
        }
        ParsedSchema::Json(_) => {
            if let Some(root) = tree::parse_json(text) {
                if matches!(root.value, Value::Obj(_)) {
                    let line = root.get("title").map(|m| m.line).or(Some(root.line));
                    let name = root.str_of("title").unwrap_or("(root)").to_string();
                    linter.doc("schema", &name, json_has_doc(&root), "#/", line);
                }
                linter.json_schema(&root, "#", 0);
            }
        }
        ParsedSchema::Protobuf(p) => linter.protobuf(p),
    }
    linter.findings
}

/// The `error`-level findings of a contract's lint rules on one schema, as
/// `rule at path: message`: what refuses a registration.
pub fn lint_errors(policy: &EvolutionPolicy, text: &str, parsed: &ParsedSchema) -> Vec<String> {
    if policy.lint.values().all(|s| s.level != Level::Error) {
        return Vec::new();
    }
    lint(&LintConfig::from_policy(policy), text, parsed)
        .into_iter()
        .filter(|f| f.level == Level::Error)
        .map(|f| f.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_pii() {
        assert_eq!(words("billingAddress"), ["billing", "address"]);
        assert_eq!(words("HTTPServer_url"), ["http", "server", "url"]);
        let p = LintConfig::default().pii_set();
        assert_eq!(pii_match("customer_email", &p), Some("email"));
        assert_eq!(pii_match("DateOfBirth", &p), Some("date_of_birth"));
        assert_eq!(pii_match("ipAddress", &p), Some("ip_address"));
        assert_eq!(pii_match("order_id", &p), None);
        assert_eq!(pii_match("addressable", &p), None);
    }

    #[test]
    fn contract_policy_reports_only_error_level_findings() {
        let yaml = "compatibility: NONE\nlint: { doc-required: error, field-naming: warning, union-width: { level: error, max: 2 } }";
        let policy: EvolutionPolicy = serde_yaml::from_str(yaml).unwrap();
        let text = r#"{"type":"record","name":"Order","doc":"An order.","fields":[
            {"name":"orderId","type":"string"},
            {"name":"note","doc":"Free text.","type":["null","string","int"]}]}"#;
        let parsed = accord_compat::parse(accord_compat::SchemaFormat::Avro, text, &[]).unwrap();
        let errors = lint_errors(&policy, text, &parsed);
        assert_eq!(
            errors,
            [
                "doc-required at /fields/0: field 'orderId' has no documentation: add a doc",
                "union-width at /fields/1/type: union has 3 branches, more than the 2 allowed",
            ]
        );
        let off: EvolutionPolicy = serde_yaml::from_str("lint: { doc-required: warning }").unwrap();
        assert!(lint_errors(&off, text, &parsed).is_empty());
    }

    #[test]
    fn naming() {
        assert!(is_snake("order_id") && !is_snake("orderId") && !is_snake("a__b"));
        assert!(is_camel("orderId") && !is_camel("order_id"));
        assert!(is_pascal("OrderLine") && !is_pascal("order_line"));
    }

    #[test]
    fn config_errors_name_the_key() {
        let y: Yaml = serde_yaml::from_str("union-width: {level: error, max: 0}").unwrap();
        assert_eq!(
            LintConfig::from_yaml(&y).unwrap_err(),
            "lint.union-width.max: expected a positive integer"
        );
        let y: Yaml = serde_yaml::from_str("doc: error").unwrap();
        assert!(LintConfig::from_yaml(&y)
            .unwrap_err()
            .contains("unknown rule 'doc'"));
    }
}
