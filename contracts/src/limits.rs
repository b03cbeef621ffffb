//! Limits checked on a contract's text *before* it is parsed: its size, and how deeply
//! its maps and lists nest.
//!
//! Why before: the YAML parser's work grows with the square of the nesting depth (a
//! 100 KB document of 50,000 nested `[` takes tens of seconds to be refused by the
//! deserializer's own recursion limit, which only applies after the whole document was
//! read), so the depth has to be known without parsing. The scan here is one linear
//! pass that over-estimates rather than under-estimates: it counts open flow
//! collections (`[`, `{`), the block indentation levels still open, and the compact
//! nested entries that share a line (`- - - x`, `? ? x`), and skips quoted scalars,
//! block scalars (`|`, `>`) and comments. JSON needs no guessing: its brackets outside
//! strings are the nesting.

/// Longest contract document accepted, in bytes (real contracts are a few kilobytes).
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Deepest nesting of maps and lists accepted. A contract's deepest part, a nested
/// schema property, takes two levels per level of nesting, so this leaves room for 30.
pub const MAX_NESTING: usize = 64;

/// Why a document was refused before parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitError {
    TooLarge { bytes: usize },
    TooDeep { line: usize },
}

impl std::fmt::Display for LimitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitError::TooLarge { bytes } => write!(
                f,
                "the document is {bytes} bytes, over the limit of {MAX_DOCUMENT_BYTES} bytes (1 MiB) for a contract"
            ),
            LimitError::TooDeep { line } => write!(
                f,
                "the document nests maps and lists more than {MAX_NESTING} levels deep (at line {line}); a contract may nest at most {MAX_NESTING} levels"
            ),
        }
    }
}

/// Checks a JSON document's size and nesting.
pub fn check_json(text: &str) -> Result<(), LimitError> {
    check_size(text)?;
    let (mut depth, mut line) = (0usize, 1usize);
    let (mut in_string, mut escaped) = (false, false);
    for b in text.bytes() {
        if b == b'\n' {
            line += 1;
        }
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(LimitError::TooDeep { line });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn check_size(text: &str) -> Result<(), LimitError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(LimitError::TooLarge { bytes: text.len() });
    }
    Ok(())
}

/// Where a YAML scan is between lines.
#[derive(Default)]
struct YamlScan {
    /// Open flow collections.
    flow: usize,
    /// Inside a quoted scalar that continues on the next line.
    quote: Option<u8>,
    /// Inside a block scalar whose lines are indented more than this.
    block_scalar: Option<usize>,
    /// Columns of the block collections still open, innermost last.
    open: Vec<usize>,
}

/// Checks a YAML document's size and (an over-estimate of) its nesting.
pub fn check_yaml(text: &str) -> Result<(), LimitError> {
    check_size(text)?;
    let mut scan = YamlScan::default();
    for (n, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw).as_bytes();
        if scan.line(line) > MAX_NESTING {
            return Err(LimitError::TooDeep { line: n + 1 });
        }
    }
    Ok(())
}

impl YamlScan {
    /// Scans one line; returns the deepest nesting seen on it.
    fn line(&mut self, line: &[u8]) -> usize {
        let indent = line.iter().take_while(|&&b| b == b' ').count();
        let blank = line.iter().all(|b| b.is_ascii_whitespace());
        if let Some(parent) = self.block_scalar {
            if blank || indent > parent {
                return 0;
            }
            self.block_scalar = None;
        }
        let mut i = 0;
        if let Some(q) = self.quote {
            match close_quote(line, 0, q) {
                Some(end) => {
                    self.quote = None;
                    i = end;
                }
                None => return 0,
            }
        }
        let mut deepest = 0;
        if i == 0 && self.flow == 0 {
            let rest = line.get(indent..).unwrap_or(&[]);
            if blank || rest.first() == Some(&b'#') {
                return 0;
            }
            let marker = |m: &[u8]| {
                indent == 0 && rest.starts_with(m) && rest.get(3).is_none_or(|&b| b == b' ')
            };
            if indent == 0 && rest.first() == Some(&b'%') {
                return 0;
            }
            if marker(b"---") || marker(b"...") {
                // A new document; what follows `---` on its line is its root node.
                self.open.clear();
                i = 3;
            } else {
                while self.open.last().is_some_and(|&top| top >= indent) {
                    self.open.pop();
                }
                self.open.push(indent);
                // Compact nested entries on one line: `- - x`, `? x`, `: x`.
                i = indent;
                while let (Some(&c), next) = (line.get(i), line.get(i + 1)) {
                    if !matches!(c, b'-' | b'?' | b':') || next.is_some_and(|&b| b != b' ') {
                        break;
                    }
                    self.open.push(i);
                    i += 1;
                    while line.get(i) == Some(&b' ') {
                        i += 1;
                    }
                }
                deepest = self.open.len();
            }
        }
        // Whether the next character begins a node (so a quote or bracket there is
        // syntax, not part of a plain scalar).
        let mut node_start = true;
        let mut after_space = true;
        while let Some(&c) = line.get(i) {
            match c {
                b'#' if after_space => break,
                b'"' | b'\'' if node_start => match close_quote(line, i + 1, c) {
                    Some(end) => {
                        i = end;
                        node_start = false;
                        after_space = false;
                        continue;
                    }
                    None => {
                        self.quote = Some(c);
                        break;
                    }
                },
                b'[' | b'{' if node_start || self.flow > 0 => {
                    self.flow += 1;
                    deepest = deepest.max(self.open.len() + self.flow);
                    if deepest > MAX_NESTING {
                        break;
                    }
                    node_start = true;
                }
                b']' | b'}' if self.flow > 0 => {
                    self.flow -= 1;
                    node_start = false;
                }
                b',' if self.flow > 0 => node_start = true,
                b'|' | b'>' if node_start && self.flow == 0 => {
                    // The block scalar's lines are those indented past its parent node.
                    self.block_scalar = Some(self.open.last().copied().unwrap_or(0));
                    break;
                }
                b':' | b'-' | b'?' if line.get(i + 1).is_none_or(|&b| b == b' ') => {
                    node_start = true;
                }
                b' ' | b'\t' => {}
                _ => node_start = false,
            }
            after_space = matches!(c, b' ' | b'\t');
            i += 1;
        }
        deepest.max(self.open.len() + self.flow)
    }
}

/// The position just past the quote that closes a scalar opened by `q`, scanning from
/// `from`; `None` when it does not close on this line.
fn close_quote(line: &[u8], from: usize, q: u8) -> Option<usize> {
    let mut i = from;
    while let Some(&c) = line.get(i) {
        if q == b'"' && c == b'\\' {
            i += 2;
            continue;
        }
        if c == q {
            // `''` inside a single-quoted scalar is an escaped quote.
            if q == b'\'' && line.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_of(text: &str) -> usize {
        let mut scan = YamlScan::default();
        text.split('\n')
            .map(|l| scan.line(l.as_bytes()))
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn yaml_nesting_is_estimated_from_above() {
        assert_eq!(depth_of("a: 1\nb: 2\n"), 1);
        assert_eq!(depth_of("a:\n  b:\n    c: 1\n"), 3);
        assert_eq!(depth_of("a:\n- x\n- y\n"), 2);
        assert!(depth_of("a:\n- - - x\n") >= 4);
        assert_eq!(depth_of("a: [1, [2, {b: 3}]]\n"), 4);
        assert_eq!(depth_of("a: {b: [1]}\n"), 3);
    }

    #[test]
    fn yaml_scalars_and_comments_do_not_count() {
        assert_eq!(depth_of("a: 'x [[[[ y'\nb: \"[[[\\\" [[\"\n"), 1);
        assert_eq!(depth_of("a: x[0] {y}\n"), 1);
        assert_eq!(depth_of("a: 1 # [[[[[\n"), 1);
        assert_eq!(depth_of("a: |\n  [[[[[\n  {{{{\nb: 1\n"), 1);
        assert_eq!(depth_of("a: \"[[[\n  [[[\"\nb: 1\n"), 1);
        assert_eq!(depth_of("a: 'it''s [ fine'\n"), 1);
        assert_eq!(depth_of("---\na: 1\n...\n---\nb: 2\n"), 1);
        assert_eq!(depth_of("--- [[1]]\n"), 2);
    }

    #[test]
    fn deep_documents_are_refused_early() {
        let n = 50_000;
        let flow = format!("a: {}{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(check_yaml(&flow), Err(LimitError::TooDeep { line: 1 }));
        let compact = format!("a:\n{}x\n", "- ".repeat(n));
        assert_eq!(check_yaml(&compact), Err(LimitError::TooDeep { line: 2 }));
        let json = format!("{{\"a\": {}{}}}", "[".repeat(n), "]".repeat(n));
        assert_eq!(check_json(&json), Err(LimitError::TooDeep { line: 1 }));
        let big = format!("a: \"{}\"", "x".repeat(MAX_DOCUMENT_BYTES));
        assert!(matches!(check_yaml(&big), Err(LimitError::TooLarge { .. })));
        assert!(matches!(check_json(&big), Err(LimitError::TooLarge { .. })));
    }
}
