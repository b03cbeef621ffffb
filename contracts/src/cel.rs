//! CEL (Common Expression Language) for Confluent-style data-quality rules, on the `cel`
//! crate (cel-rust; the maintained successor of `cel-interpreter`).
//!
//! Conventions are Confluent's: a `CEL` rule's expression sees the record as `message`
//! (`message.age >= 18`); a `CEL_FIELD` rule's expression may start with a guard
//! separated by `;` (`name == 'ssn' ; value.size() == 9`), evaluated per field with
//! `name`, `value`, `typeName`, `tags` and `message` bound. The environment is CEL's
//! standard library plus the strings extension (`lowerAscii`, `split`, ...), with
//! timestamps and regular expressions.
//!
//! JSON numbers become CEL `int` when they fit in 64 bits and `double` otherwise (never
//! `uint`), so `message.age + 1` works as it does in Confluent's executors.
//!
//! The parser and the evaluator recurse on the expression. Nesting deeper than the
//! parser's own limit is a compile error, and a rule longer than [`MAX_EXPR_LEN`], with
//! more than [`MAX_OPERATORS`] operator characters or nested deeper than [`MAX_NESTING`]
//! is refused before parsing (the counts ignore string quoting, erring on the safe side), so that no
//! expression a user registers can exhaust a thread's stack when it is compiled or run.

use crate::contract::Problem;
use crate::schema_meta::{Rule, RuleSet};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

/// The longest expression accepted, in bytes.
pub const MAX_EXPR_LEN: usize = 4096;
/// The most operator characters (`+ - * / % < > = ! & | ?`) an expression may have.
/// Chains of binary operators nest one level per operator.
pub const MAX_OPERATORS: usize = 256;
/// The deepest nesting of brackets (`(`, `[`, `{`) accepted.
pub const MAX_NESTING: usize = 32;

static ENV: LazyLock<Arc<::cel::Env>> = LazyLock::new(|| {
    let mut env = ::cel::Env::stdlib();
    // Declaring the standard strings extension on a fresh stdlib cannot conflict.
    let _ = env.add_extension(::cel::extensions::strings);
    Arc::new(env)
});

/// What went wrong compiling or running an expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CelError {
    /// A syntax error; `line` and `column` are 1-based.
    #[error("invalid CEL expression at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// Refused before parsing (too long, too many operators, empty).
    #[error("invalid CEL expression: {0}")]
    Refused(String),
    /// The expression failed at run time: unknown field, wrong types, ...
    #[error("CEL evaluation failed: {0}")]
    Evaluation(String),
    /// The expression ran but gave something other than a boolean.
    #[error("CEL condition returned {0}, not a boolean")]
    NotBoolean(String),
}

/// A compiled expression; cheap to share across threads.
#[derive(Debug)]
pub struct Program {
    source: String,
    program: ::cel::Program,
}

impl Program {
    /// The expression it was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// A compiled `CEL_FIELD` expression: an optional guard and the expression.
#[derive(Debug)]
pub struct FieldProgram {
    pub guard: Option<Program>,
    pub expr: Program,
}

fn precheck(expr: &str) -> Result<(), CelError> {
    if expr.trim().is_empty() {
        return Err(CelError::Refused("empty expression".to_string()));
    }
    if expr.len() > MAX_EXPR_LEN {
        return Err(CelError::Refused(format!(
            "{} bytes long (at most {MAX_EXPR_LEN})",
            expr.len()
        )));
    }
    let operators = expr.bytes().filter(|b| b"+-*/%<>=!&|?".contains(b)).count();
    if operators > MAX_OPERATORS {
        return Err(CelError::Refused(format!(
            "{operators} operator characters (at most {MAX_OPERATORS})"
        )));
    }
    let mut depth = 0usize;
    let mut deepest = 0usize;
    for b in expr.bytes() {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > MAX_NESTING {
        return Err(CelError::Refused(format!(
            "brackets nested {deepest} deep (at most {MAX_NESTING})"
        )));
    }
    Ok(())
}

/// Compiles `expr`; a syntax error names the line and column of the first problem.
pub fn compile(expr: &str) -> Result<Program, CelError> {
    precheck(expr)?;
    let program = ENV.compile(expr).map_err(|errors| {
        let first = errors.errors.first();
        let pos = |v: isize| usize::try_from(v).unwrap_or(0).max(1);
        let message = errors
            .errors
            .iter()
            .map(|e| e.msg.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        CelError::Syntax {
            line: first.map_or(1, |e| pos(e.pos.0)),
            column: first.map_or(1, |e| pos(e.pos.1)),
            message,
        }
    })?;
    Ok(Program {
        source: expr.to_string(),
        program,
    })
}

/// Compiles a `CEL_FIELD` expression (`[guard ;] expr`; a `;` inside a string literal
/// does not split).
pub fn compile_field(expr: &str) -> Result<FieldProgram, CelError> {
    match split_guard(expr) {
        Some((guard, body)) => Ok(FieldProgram {
            guard: Some(compile(guard)?),
            expr: compile(body)?,
        }),
        None => Ok(FieldProgram {
            guard: None,
            expr: compile(expr)?,
        }),
    }
}

/// The first `;` outside string literals splits guard from expression.
fn split_guard(expr: &str) -> Option<(&str, &str)> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, ch) in expr.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if ch == '\\' {
                    escaped = true;
                } else if ch == q {
                    quote = None;
                }
            }
            None if ch == '"' || ch == '\'' => quote = Some(ch),
            None if ch == ';' => return Some((&expr[..i], &expr[i + 1..])),
            None => {}
        }
    }
    None
}

/// A JSON value as CEL sees it.
pub fn to_cel(v: &Json) -> ::cel::Value {
    use ::cel::Value as C;
    match v {
        Json::Null => C::Null,
        Json::Bool(b) => C::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => C::Int(i),
            (None, Some(f)) => C::Float(f),
            (None, None) => C::Null,
        },
        Json::String(s) => C::String(Arc::new(s.clone())),
        Json::Array(a) => C::List(Arc::new(a.iter().map(to_cel).collect())),
        Json::Object(m) => {
            let map: HashMap<String, ::cel::Value> =
                m.iter().map(|(k, v)| (k.clone(), to_cel(v))).collect();
            C::from(map)
        }
    }
}

fn run(program: &Program, vars: Vec<(&str, ::cel::Value)>) -> Result<::cel::Value, CelError> {
    let mut ctx = ::cel::Context::with_env(ENV.clone());
    for (name, value) in vars {
        ctx.add_variable_from_value(name, value);
    }
    program
        .program
        .execute(&ctx)
        .map_err(|e| CelError::Evaluation(e.to_string()))
}

fn as_bool(v: ::cel::Value) -> Result<bool, CelError> {
    match v {
        ::cel::Value::Bool(b) => Ok(b),
        other => Err(CelError::NotBoolean(format!("{other:?}"))),
    }
}

/// Evaluates a condition with the record bound as `message`. Errors (unknown field,
/// mismatched types, a non-boolean result) are returned, never panics.
pub fn evaluate(program: &Program, message: &Json) -> Result<bool, CelError> {
    as_bool(run(program, vec![("message", to_cel(message))])?)
}

/// What a `CEL_FIELD` rule sees of one field.
#[derive(Debug, Clone, Copy)]
pub struct FieldContext<'a> {
    pub name: &'a str,
    pub value: &'a Json,
    /// Confluent's type names: `STRING`, `INT`, `RECORD`, ...
    pub type_name: &'a str,
    pub tags: &'a [String],
    pub message: &'a Json,
}

/// Evaluates a `CEL_FIELD` condition on one field: `Ok(None)` when the guard is false
/// (the rule does not apply to this field).
pub fn evaluate_field(
    program: &FieldProgram,
    field: FieldContext<'_>,
) -> Result<Option<bool>, CelError> {
    let vars = || {
        vec![
            (
                "name",
                ::cel::Value::String(Arc::new(field.name.to_string())),
            ),
            ("value", to_cel(field.value)),
            (
                "typeName",
                ::cel::Value::String(Arc::new(field.type_name.to_string())),
            ),
            (
                "tags",
                ::cel::Value::List(Arc::new(
                    field
                        .tags
                        .iter()
                        .map(|t| ::cel::Value::String(Arc::new(t.clone())))
                        .collect(),
                )),
            ),
            ("message", to_cel(field.message)),
        ]
    };
    if let Some(guard) = &program.guard {
        if !as_bool(run(guard, vars())?)? {
            return Ok(None);
        }
    }
    as_bool(run(&program.expr, vars())?).map(Some)
}

fn is_cel(rule: &Rule) -> Option<bool> {
    match rule.rule_type.as_deref()?.to_ascii_uppercase().as_str() {
        "CEL" => Some(false),
        "CEL_FIELD" => Some(true),
        _ => None,
    }
}

/// Compiles the expression of every `CEL` and `CEL_FIELD` rule of a ruleSet, disabled
/// ones included. Each problem's path is relative to the ruleSet
/// (`domainRules[0].expr`) and its message names the rule.
pub fn check_rule_set(rule_set: &RuleSet) -> Vec<Problem> {
    let mut problems = Vec::new();
    let lists = [
        ("migrationRules", &rule_set.migration_rules),
        ("domainRules", &rule_set.domain_rules),
        ("encodingRules", &rule_set.encoding_rules),
    ];
    for (list, rules) in lists {
        for (i, rule) in rules.iter().enumerate() {
            let Some(field) = is_cel(rule) else {
                continue;
            };
            let name = rule.name.as_deref().unwrap_or("(unnamed)");
            let kind = if field { "CEL_FIELD" } else { "CEL" };
            let result = match rule.expr.as_deref() {
                None => Err(CelError::Refused("missing expr".to_string())),
                Some(expr) if field => compile_field(expr).map(drop),
                Some(expr) => compile(expr).map(drop),
            };
            if let Err(e) = result {
                problems.push(Problem::new(
                    format!("{list}[{i}].expr"),
                    format!("rule '{name}' ({kind}): {e}"),
                ));
            }
        }
    }
    problems
}
