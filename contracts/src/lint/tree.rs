//! The source trees lint walks: a JSON reader that keeps the 1-based line of every
//! value and object key (serde_json drops positions), and the source-info locations of a
//! compiled `.proto`. Lines let the CLI point at the offending declaration; the server
//! ignores them.

use std::collections::HashMap;

/// A JSON value with the 1-based line where it starts.
#[derive(Debug, Clone)]
pub struct Node {
    pub line: u32,
    pub value: Value,
}

#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Bool,
    Num,
    Str(String),
    Arr(Vec<Node>),
    Obj(Vec<Member>),
}

/// An object member: its key, the key's line, its value.
#[derive(Debug, Clone)]
pub struct Member {
    pub key: String,
    pub line: u32,
    pub value: Node,
}

impl Node {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Member> {
        match &self.value {
            Value::Obj(members) => members.iter().find(|m| m.key == key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Arr(a) => Some(a),
            _ => None,
        }
    }

    pub fn members(&self) -> &[Member] {
        match &self.value {
            Value::Obj(m) => m,
            _ => &[],
        }
    }

    /// The string `key` of an object.
    pub fn str_of(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|m| m.value.as_str())
    }
}

/// Nesting deeper than this is not followed (the schema parsers reject far less).
const MAX_DEPTH: usize = 512;

/// Parses JSON keeping lines; `None` for anything that is not valid JSON.
pub fn parse_json(text: &str) -> Option<Node> {
    let mut p = JsonReader {
        s: text.as_bytes(),
        i: 0,
        line: 1,
    };
    p.ws();
    let node = p.value(0)?;
    p.ws();
    (p.i == p.s.len()).then_some(node)
}

struct JsonReader<'a> {
    s: &'a [u8],
    i: usize,
    line: u32,
}

impl JsonReader<'_> {
    fn ws(&mut self) {
        while let Some(&c) = self.s.get(self.i) {
            match c {
                b'\n' => self.line += 1,
                b' ' | b'\t' | b'\r' => {}
                _ => return,
            }
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.s.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    fn value(&mut self, depth: usize) -> Option<Node> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        let line = self.line;
        let value =
            match *self.s.get(self.i)? {
                b'{' => {
                    self.i += 1;
                    let mut members = Vec::new();
                    self.ws();
                    if self.s.get(self.i) == Some(&b'}') {
                        self.i += 1;
                    } else {
                        loop {
                            self.ws();
                            let line = self.line;
                            let key = self.string()?;
                            self.eat(b':')?;
                            let value = self.value(depth + 1)?;
                            members.push(Member { key, line, value });
                            self.ws();
                            match self.s.get(self.i)? {
                                b',' => self.i += 1,
                                b'}' => {
                                    self.i += 1;
                                    break;
                                }
                                _ => return None,
                            }
                        }
                    }
                    Value::Obj(members)
                }
                b'[' => {
                    self.i += 1;
                    let mut items = Vec::new();
                    self.ws();
                    if self.s.get(self.i) == Some(&b']') {
                        self.i += 1;
                    } else {
                        loop {
                            items.push(self.value(depth + 1)?);
                            self.ws();
                            match self.s.get(self.i)? {
                                b',' => self.i += 1,
                                b']' => {
                                    self.i += 1;
                                    break;
                                }
                                _ => return None,
                            }
                        }
                    }
                    Value::Arr(items)
                }
                b'"' => Value::Str(self.string()?),
                b't' => self.word("true", Value::Bool)?,
                b'f' => self.word("false", Value::Bool)?,
                b'n' => self.word("null", Value::Null)?,
                b'-' | b'0'..=b'9' => {
                    let start = self.i;
                    while self.s.get(self.i).is_some_and(|c| {
                        matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                    }) {
                        self.i += 1;
                    }
                    if self.i == start {
                        return None;
                    }
                    Value::Num
                }
                _ => return None,
            };
        Some(Node { line, value })
    }

    fn word(&mut self, w: &str, v: Value) -> Option<Value> {
        let end = self.i + w.len();
        (self.s.get(self.i..end)? == w.as_bytes()).then(|| {
            self.i = end;
            v
        })
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = std::str::from_utf8(self.s.get(self.i..self.i + 4)?).ok()?;
        self.i += 4;
        u32::from_str_radix(h, 16).ok()
    }

    fn string(&mut self) -> Option<String> {
        if self.s.get(self.i) != Some(&b'"') {
            return None;
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.i)?;
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = *self.s.get(self.i)?;
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi)
                                && self.s.get(self.i..self.i + 2) == Some(b"\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF)
                            } else {
                                hi
                            };
                            char::from_u32(code).unwrap_or('\u{FFFD}')
                        }
                        _ => return None,
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                b'\n' => {
                    self.line += 1;
                    out.push(c);
                }
                _ => out.push(c),
            }
        }
        String::from_utf8(out).ok()
    }
}

/// Source-info locations of a compiled `.proto`, by path (descriptor field numbers).
pub struct ProtoLocations<'a> {
    by_path: HashMap<&'a [i32], &'a prost_types::source_code_info::Location>,
}

impl<'a> ProtoLocations<'a> {
    pub fn new(file: &'a prost_types::FileDescriptorProto) -> Self {
        let mut by_path = HashMap::new();
        if let Some(info) = &file.source_code_info {
            for loc in &info.location {
                by_path.entry(loc.path.as_slice()).or_insert(loc);
            }
        }
        ProtoLocations { by_path }
    }

    /// The 1-based first line of the declaration at `path`.
    pub fn line(&self, path: &[i32]) -> Option<u32> {
        let loc = self.by_path.get(path)?;
        let l = *loc.span.first()?;
        u32::try_from(l).ok().map(|l| l + 1)
    }

    /// Leading (or trailing) comment text of the declaration at `path`, trimmed.
    pub fn comment(&self, path: &[i32]) -> Option<String> {
        let loc = self.by_path.get(path)?;
        [&loc.leading_comments, &loc.trailing_comments]
            .into_iter()
            .flatten()
            .map(|c| c.trim().to_string())
            .find(|c| !c.is_empty())
    }
}
