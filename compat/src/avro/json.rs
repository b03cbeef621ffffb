//! JSON text the way Jackson writes it, so stored texts match Confluent's byte for byte:
//! compact, keys in order, `\uXXXX` escapes with upper-case hex, and floating-point
//! numbers spelled like Java's `Double.toString` (`1.0E-5`, `100.0`), which differs from
//! Rust's own spelling (`1e-5`, `100`).

use serde_json::Value;

/// Appends `s` as a JSON string literal.
pub(crate) fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `v` as compact JSON.
pub(crate) fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

fn write_number(out: &mut String, n: &serde_json::Number) {
    if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else if let Some(f) = n.as_f64() {
        out.push_str(&java_double(f));
    } else {
        out.push_str(&n.to_string());
    }
}

/// The JSON text of `v`.
pub(crate) fn to_text(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

/// Java's `Double.toString` (shortest round-trip digits, as JDK 19+ prints them).
pub(crate) fn java_double(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    java_format(&format!("{x:e}"), x.abs() >= 1e-3 && x.abs() < 1e7)
}

/// Java's `Float.toString`.
pub(crate) fn java_float(x: f32) -> String {
    if x.is_nan() {
        return "NaN".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    java_format(&format!("{x:e}"), x.abs() >= 1e-3 && x.abs() < 1e7)
}

/// Turns Rust's shortest scientific form (`-1.25e-7`) into Java's layout: plain decimal
/// with at least one fractional digit inside [1e-3, 1e7), else `d.dddE[-]n`.
fn java_format(sci: &str, plain: bool) -> String {
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i64>().unwrap_or(0)),
        None => (sci, 0),
    };
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = if digits.is_empty() {
        "0".to_string()
    } else {
        digits
    };
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if plain {
        // Position of the decimal point counted in digits from the left.
        let point = exp + 1;
        if point <= 0 {
            out.push_str("0.");
            for _ in 0..(-point) {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let point = point as usize;
            if point >= digits.len() {
                out.push_str(&digits);
                for _ in digits.len()..point {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        if digits.len() > 1 {
            out.push_str(&digits[1..]);
        } else {
            out.push('0');
        }
        out.push('E');
        out.push_str(&exp.to_string());
    }
    out
}

/// Java's `Double.valueOf(String)` for a textual `float`/`double` default, close enough:
/// surrounding whitespace, an optional `f`/`d` suffix, `NaN` and `Infinity`.
pub(crate) fn java_parse_double(s: &str) -> Option<f64> {
    let t = s.trim();
    match t {
        "NaN" | "+NaN" | "-NaN" => return Some(f64::NAN),
        "Infinity" | "+Infinity" => return Some(f64::INFINITY),
        "-Infinity" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    let t = t.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(t);
    // Rust also accepts "inf"/"nan" spellings Java rejects.
    if t.chars()
        .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
    {
        return None;
    }
    t.parse::<f64>().ok()
}

/// Strips `//` and `/* */` comments outside strings (Avro's Jackson parser allows them),
/// keeping line breaks so error positions still point at the right line and column.
pub(crate) fn strip_comments(text: &str) -> Option<String> {
    if !text.contains('/') {
        return None;
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut in_string = false;
    let mut changed = false;
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            out.push(c);
            if c == '\\' {
                if let Some(&next) = chars.get(i + 1) {
                    out.push(next);
                    i += 1;
                }
            } else if c == '"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match (c, chars.get(i + 1)) {
            ('"', _) => {
                in_string = true;
                out.push(c);
                i += 1;
            }
            ('/', Some('/')) => {
                changed = true;
                while i < chars.len() && chars[i] != '\n' {
                    out.push(' ');
                    i += 1;
                }
            }
            ('/', Some('*')) => {
                let start = i;
                let mut end = None;
                let mut j = i + 2;
                while j + 1 < chars.len() {
                    if chars[j] == '*' && chars[j + 1] == '/' {
                        end = Some(j + 2);
                        break;
                    }
                    j += 1;
                }
                match end {
                    Some(end) => {
                        changed = true;
                        for &ch in &chars[start..end] {
                            out.push(if ch == '\n' { '\n' } else { ' ' });
                        }
                        i = end;
                    }
                    None => {
                        // Unterminated: leave it for the JSON parser to reject.
                        out.push(c);
                        i += 1;
                    }
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(100.0), "100.0");
        assert_eq!(java_double(1.5), "1.5");
        assert_eq!(java_double(0.001), "0.001");
        assert_eq!(java_double(0.0001), "1.0E-4");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(9_999_999.0), "9999999.0");
        assert_eq!(java_double(12_345_678.9), "1.23456789E7");
        assert_eq!(java_double(-2.5e-10), "-2.5E-10");
        assert_eq!(java_double(-0.0), "-0.0");
        assert_eq!(java_double(0.1), "0.1");
        assert_eq!(java_float(0.1), "0.1");
        assert_eq!(java_float(2.718_281_7_f32 * 2.0), "5.4365635");
    }

    #[test]
    fn strings_escape_like_jackson() {
        let mut s = String::new();
        write_str(&mut s, "a\"b\\c\n\u{1}é/");
        assert_eq!(s, "\"a\\\"b\\\\c\\n\\u0001é/\"");
    }

    #[test]
    fn parse_double_like_java() {
        assert_eq!(java_parse_double(" 1.5 "), Some(1.5));
        assert_eq!(java_parse_double("2f"), Some(2.0));
        assert!(java_parse_double("NaN").is_some_and(f64::is_nan));
        assert_eq!(java_parse_double("inf"), None);
        assert_eq!(java_parse_double("abc"), None);
        assert_eq!(java_parse_double("1e3"), Some(1000.0));
    }

    #[test]
    fn comments_are_blanked() {
        let t = "{\"a\": /* x */ 1, // y\n \"b\": \"//not\"}";
        let s = strip_comments(t).unwrap_or_default();
        let v: Value = serde_json::from_str(&s).unwrap_or(Value::Null);
        assert_eq!(v["a"], 1);
        assert_eq!(v["b"], "//not");
        assert_eq!(strip_comments("{\"a\":\"x/y\"}"), None);
    }
}
