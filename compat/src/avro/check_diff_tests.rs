//! The two-pass checker against the oracle (the checker as Java does it, every list
//! copied at every memo hit), on generated pairs of related schemas: recursive records,
//! unions of named types, aliases, enums with defaults, fixed sizes, arrays and maps,
//! mutated so that verdicts, paths and the order of incompatibilities all get exercised.

use super::{check, check_oracle, parse};
use crate::Budget;
use serde_json::{json, Map, Value};

/// A small deterministic generator (xorshift), so failures reproduce from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const NAMES: [&str; 8] = ["A", "B", "C", "D", "E", "F", "G", "H"];
const PRIMS: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];
const SYMBOLS: [&str; 4] = ["X", "Y", "Z", "W"];

struct Gen {
    rng: Rng,
    /// Named types defined so far (records may refer to themselves and earlier ones).
    defined: Vec<String>,
}

impl Gen {
    fn fresh_name(&mut self) -> Option<String> {
        let free: Vec<&str> = NAMES
            .iter()
            .copied()
            .filter(|n| !self.defined.iter().any(|d| d == n))
            .collect();
        let n = free.get(self.rng.below(free.len()))?.to_string();
        self.defined.push(n.clone());
        Some(n)
    }

    fn any(&mut self, depth: usize) -> Value {
        let roll = if depth > 3 {
            self.rng.below(3)
        } else {
            self.rng.below(10)
        };
        match roll {
            0 | 1 => json!(PRIMS[self.rng.below(PRIMS.len())]),
            2 if !self.defined.is_empty() => {
                json!(self.defined[self.rng.below(self.defined.len())].clone())
            }
            2..=4 => self.record(depth),
            5 => match self.fresh_name() {
                Some(name) => {
                    let n = 1 + self.rng.below(SYMBOLS.len());
                    let mut e = json!({"type": "enum", "name": name, "symbols": SYMBOLS[..n]});
                    if self.rng.chance(40) {
                        e["default"] = json!(SYMBOLS[0]);
                    }
                    e
                }
                None => json!("int"),
            },
            6 => match self.fresh_name() {
                Some(name) => json!({"type": "fixed", "name": name, "size": 1 + self.rng.below(3)}),
                None => json!("long"),
            },
            7 => json!({"type": "array", "items": self.any(depth + 1)}),
            8 => json!({"type": "map", "values": self.any(depth + 1)}),
            _ => self.union(depth),
        }
    }

    fn union(&mut self, depth: usize) -> Value {
        let mut branches: Vec<Value> = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        for _ in 0..1 + self.rng.below(4) {
            let b = self.any(depth + 1);
            if b.get("type").and_then(Value::as_str) == Some("union") || b.is_array() {
                continue;
            }
            // Unions may not hold two of a kind (same primitive, two arrays, ...).
            let key = match &b {
                Value::String(s) => s.clone(),
                Value::Object(o) => match o.get("name").and_then(Value::as_str) {
                    Some(n) => n.to_string(),
                    None => o
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                },
                _ => String::new(),
            };
            if !keys.contains(&key) {
                keys.push(key);
                branches.push(b);
            }
        }
        Value::Array(branches)
    }

    fn record(&mut self, depth: usize) -> Value {
        let Some(name) = self.fresh_name() else {
            return json!("string");
        };
        let mut fields = Vec::new();
        for i in 0..self.rng.below(4) {
            let ty = self.any(depth + 1);
            let mut f = Map::new();
            f.insert("name".into(), json!(format!("f{i}")));
            let nullable_first = ty.as_array().and_then(|b| b.first()) == Some(&json!("null"));
            if ty == json!("null") || (nullable_first && self.rng.chance(60)) {
                f.insert("default".into(), Value::Null);
            } else if ty == json!("int") && self.rng.chance(50) {
                f.insert("default".into(), json!(0));
            }
            if self.rng.chance(15) {
                f.insert("aliases".into(), json!([format!("f{}", i + 1)]));
            }
            f.insert("type".into(), ty);
            fields.push(Value::Object(f));
        }
        let mut r = json!({"type": "record", "name": name, "fields": fields});
        if self.rng.chance(15) {
            r["aliases"] = json!([NAMES[self.rng.below(NAMES.len())]]);
        }
        r
    }
}

/// Random edits that keep most of the schema: types changed, fields added or dropped,
/// names and symbols changed, unions widened.
fn mutate(v: &mut Value, rng: &mut Rng) {
    match v {
        Value::String(s) if rng.chance(15) && PRIMS.contains(&s.as_str()) => {
            *s = PRIMS[rng.below(PRIMS.len())].to_string();
        }
        Value::Array(branches) => {
            if rng.chance(15) && branches.len() > 1 {
                let i = rng.below(branches.len());
                branches.remove(i);
            }
            for b in branches {
                mutate(b, rng);
            }
        }
        Value::Object(o) => {
            let kind = o
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            match kind.as_str() {
                "record" => {
                    if rng.chance(8) {
                        o.insert("name".into(), json!(NAMES[rng.below(NAMES.len())]));
                    }
                    if let Some(Value::Array(fields)) = o.get_mut("fields") {
                        if rng.chance(15) && !fields.is_empty() {
                            let i = rng.below(fields.len());
                            fields.remove(i);
                        }
                        if rng.chance(15) {
                            let mut f = json!({"name": format!("n{}", rng.below(3)), "type": PRIMS[rng.below(PRIMS.len())]});
                            if f["type"] == json!("null")
                                || rng.chance(30) && f["type"] == json!("int")
                            {
                                f["default"] = if f["type"] == json!("null") {
                                    Value::Null
                                } else {
                                    json!(1)
                                };
                            }
                            fields.push(f);
                        }
                        for f in fields.iter_mut() {
                            if let Some(t) = f.get_mut("type") {
                                mutate(t, rng);
                            }
                        }
                    }
                }
                "enum" if rng.chance(30) => {
                    let n = 1 + rng.below(SYMBOLS.len());
                    o.insert("symbols".into(), json!(SYMBOLS[..n]));
                    o.remove("default");
                }
                "fixed" if rng.chance(30) => {
                    o.insert("size".into(), json!(1 + rng.below(3)));
                }
                "array" => {
                    if let Some(t) = o.get_mut("items") {
                        mutate(t, rng);
                    }
                }
                "map" => {
                    if let Some(t) = o.get_mut("values") {
                        mutate(t, rng);
                    }
                }
                _ => {}
            }
        }
        _ => {}
    }
}

#[test]
fn two_passes_report_exactly_what_the_memo_of_lists_reports() {
    let mut compared = 0;
    let mut incompatible = 0;
    for seed in 1..4000u64 {
        let mut g = Gen {
            rng: Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            defined: Vec::new(),
        };
        let a = g.record(0);
        let mut b = a.clone();
        let mut rng = Rng(seed.wrapping_mul(31) | 1);
        mutate(&mut b, &mut rng);
        let (Ok(sa), Ok(sb)) = (parse(&a.to_string(), &[]), parse(&b.to_string(), &[])) else {
            continue;
        };
        for (old, new) in [(&sa, &sb), (&sb, &sa), (&sa, &sa)] {
            let expected = check_oracle::backward(old, new);
            let got = match check::backward(old, new, &mut Budget::default()) {
                Ok(found) => found,
                Err(e) => panic!("seed {seed}: {e}"),
            };
            assert_eq!(got, expected, "seed {seed}\nold: {a}\nnew: {b}");
            compared += 1;
            incompatible += usize::from(!expected.is_empty());
        }
    }
    // The generator must produce a real mix, or the comparison proves little.
    assert!(compared > 3000, "only {compared} pairs parsed");
    assert!(
        incompatible > compared / 10,
        "only {incompatible} of {compared} incompatible"
    );
}
