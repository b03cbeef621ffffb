//! Reading a JSON value into a typed model while collecting every shape problem, where
//! serde stops at the first one.
//!
//! A contract with a bad enum value (`keyScope: user`) and a bad type elsewhere
//! (`required: yes please`) should name both in one answer. serde cannot: its derived
//! deserializers return the first error. So [`Shape::read`] deserializes, and on an error
//! records it with its path ([`serde_path_to_error`]), removes the offending value from
//! the document and tries again, until the rest reads. What was removed is remembered:
//!
//! * an optional field that was removed simply reads as absent;
//! * a required field that was removed makes its parent fail with "missing field";
//!   that consequence is not reported again, and the parent is removed in turn;
//! * a removed list element shifts the later ones, so paths are mapped back to the
//!   document's own indexes before they are reported.
//!
//! The result is the model of what could be read plus every problem, and the removed
//! paths, with which [`Shape::covers`] tells the later validation's findings about the
//! removed parts (a "required" for a field whose value was of the wrong type) from the
//! independent ones.

use crate::contract::Problem;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The most values removed from one document before giving up on the rest: enough for
/// any real contract, and a bound on the work a hostile one can cause.
const MAX_REMOVALS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// `a.b[2].c`, as [`crate::contract::path_of`] writes paths.
fn render(segs: &[Seg]) -> String {
    let mut out = String::new();
    for s in segs {
        match s {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The path of a serde error, up to the first segment that names no value (a map key
/// that failed to read: the error stops at its map, and the message names the key).
fn segments(path: &serde_path_to_error::Path) -> Vec<Seg> {
    use serde_path_to_error::Segment;
    let mut out = Vec::new();
    for s in path.iter() {
        match s {
            Segment::Seq { index } => out.push(Seg::Index(*index)),
            Segment::Map { key } => out.push(Seg::Key(key.clone())),
            Segment::Enum { variant } => out.push(Seg::Key(variant.clone())),
            Segment::Unknown => break,
        }
    }
    out
}

/// Removes the value at `segs` from `doc`; false when there is none.
fn remove(doc: &mut Value, segs: &[Seg]) -> bool {
    let Some((last, parents)) = segs.split_last() else {
        return false;
    };
    let mut at = doc;
    for s in parents {
        let next = match (s, at) {
            (Seg::Key(k), Value::Object(m)) => m.get_mut(k),
            (Seg::Index(i), Value::Array(a)) => a.get_mut(*i),
            _ => None,
        };
        match next {
            Some(v) => at = v,
            None => return false,
        }
    }
    match (last, at) {
        (Seg::Key(k), Value::Object(m)) => m.remove(k).is_some(),
        (Seg::Index(i), Value::Array(a)) if *i < a.len() => {
            a.remove(*i);
            true
        }
        _ => false,
    }
}

/// The problems found while reading a document, and the parts removed from it.
#[derive(Debug, Default)]
pub(crate) struct Shape {
    pub(crate) problems: Vec<Problem>,
    /// Removed values, as paths in the original document.
    removed: Vec<Vec<Seg>>,
    /// [`MAX_REMOVALS`] was reached (and said so).
    truncated: bool,
}

impl Shape {
    /// Reads `doc` (found at path `at` of the original document) as a `T`, recording each
    /// problem with its path and leaving out the values that caused them. `None` when
    /// nothing of it could be read (then `at` itself counts as removed).
    pub(crate) fn read<T: DeserializeOwned>(&mut self, at: &str, mut doc: Value) -> Option<T> {
        let base = parse(at);
        loop {
            let err = match serde_path_to_error::deserialize::<_, T>(&doc) {
                Ok(t) => return Some(t),
                Err(e) => e,
            };
            let current = segments(err.path());
            let original = self.original(&base, &current);
            let message = err.into_inner().to_string();
            // A field removed here is "missing" now: that was reported already.
            let consequence = missing_field(&message).is_some_and(|k| {
                let mut p = original.clone();
                p.push(Seg::Key(k.to_string()));
                self.removed.contains(&p)
            });
            if !consequence {
                self.problems.push(Problem::new(render(&original), message));
            }
            // Remove the offending value, or the nearest container that can be removed.
            let mut cut = current.len();
            loop {
                if self.removed.len() >= MAX_REMOVALS {
                    if !self.truncated {
                        self.truncated = true;
                        self.problems.push(Problem::new(
                            "",
                            format!(
                                "more problems may follow: reading stopped after {MAX_REMOVALS}"
                            ),
                        ));
                    }
                    self.removed.push(base);
                    return None;
                }
                if cut == 0 {
                    self.removed.push(base);
                    return None;
                }
                if remove(&mut doc, &current[..cut]) {
                    break;
                }
                cut -= 1;
            }
            let gone = self.original(&base, &current[..cut]);
            self.removed.push(gone);
        }
    }

    /// `current`, a path inside the value at `base` after the removals so far, as a path
    /// in the original document.
    fn original(&self, base: &[Seg], current: &[Seg]) -> Vec<Seg> {
        let inside: Vec<Vec<Seg>> = self
            .removed
            .iter()
            .filter(|r| r.len() > base.len() && r[..base.len()] == *base)
            .map(|r| r[base.len()..].to_vec())
            .collect();
        let mut out = base.to_vec();
        out.extend(original_path(current, &inside));
        out
    }

    /// A path in the document as read (after every removal, e.g. one that the model's
    /// own checks report), as a path in the original document.
    pub(crate) fn translate(&self, path: &str) -> String {
        render(&self.original(&[], &parse(path)))
    }

    /// Records a problem with the value at `path` (of the original document), which is
    /// left out.
    pub(crate) fn refuse(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
        self.removed.push(parse(path));
    }

    /// Records a problem at `path` (of the original document) that removes nothing.
    pub(crate) fn push(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    /// Whether a finding at `path` (of the original document) concerns a removed value:
    /// the value itself, a part of it, or a container of it other than the root.
    pub(crate) fn covers(&self, path: &str) -> bool {
        let p = parse(path);
        self.removed
            .iter()
            .any(|r| (r.starts_with(&p) && !p.is_empty()) || (p.starts_with(r) && !r.is_empty()))
    }
}

/// `a.b[2].c` as segments (the inverse of [`render`] for keys without `.` and `[`).
fn parse(path: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Seg::Key(key.to_string()));
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let Some(close) = inner.find(']') else {
                out.push(Seg::Key(rest.to_string()));
                break;
            };
            match inner[..close].parse::<usize>() {
                Ok(i) => out.push(Seg::Index(i)),
                Err(_) => out.push(Seg::Key(format!("[{}]", &inner[..close]))),
            }
            rest = &inner[close + 1..];
        }
        if !rest.is_empty() {
            out.push(Seg::Key(rest.to_string()));
        }
    }
    out
}

/// The key of serde's "missing field `key`" message.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// `segs`, a path in the document after `removed` were taken out (in that order), as a
/// path in the original document: list indexes move past the removed elements before
/// them.
fn original_path(segs: &[Seg], removed: &[Vec<Seg>]) -> Vec<Seg> {
    let mut out: Vec<Seg> = Vec::with_capacity(segs.len());
    for s in segs {
        match s {
            Seg::Key(k) => out.push(Seg::Key(k.clone())),
            Seg::Index(i) => {
                let mut gone: Vec<usize> = removed
                    .iter()
                    .filter(|r| r.len() == out.len() + 1 && r[..out.len()] == out[..])
                    .filter_map(|r| match r.last() {
                        Some(Seg::Index(j)) => Some(*j),
                        _ => None,
                    })
                    .collect();
                gone.sort_unstable();
                let mut j = *i;
                for g in gone {
                    if g <= j {
                        j += 1;
                    }
                }
                out.push(Seg::Index(j));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        name: String,
        #[serde(default)]
        size: Option<u32>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        #[serde(default)]
        items: Vec<Item>,
        #[serde(default)]
        flag: Option<bool>,
    }

    #[test]
    fn every_problem_is_reported_with_its_original_path() {
        let mut shape = Shape::default();
        let doc = json!({
            "items": [
                {"name": 1},
                {"name": "b", "size": "big"},
                {"nme": "c"},
                {"name": "d", "size": -1},
            ],
            "flag": "yes",
            "extra": 1,
        });
        let read: Doc = shape.read("root", doc).expect("the rest reads");
        let found: Vec<(&str, &str)> = shape
            .problems
            .iter()
            .map(|p| (p.path.as_str(), p.message.as_str()))
            .collect();
        // In the order serde meets them, which is the map's key order.
        let mut paths: Vec<&str> = found.iter().map(|f| f.0).collect();
        paths.sort_unstable();
        assert_eq!(
            paths,
            [
                "root.extra",
                "root.flag",
                "root.items[0].name",
                "root.items[1].size",
                "root.items[2]",
                "root.items[2].nme",
                "root.items[3].size",
            ],
            "{found:#?}"
        );
        let missing = found
            .iter()
            .find(|f| f.0 == "root.items[2]")
            .expect("items[2]");
        assert!(missing.1.contains("missing field `name`"), "{found:?}");
        // No second "missing field" for the name removed from items[0].
        assert!(!paths.contains(&"root.items[0]"), "{found:?}");
        // The first element lost its required name (reported once, as a type error) and
        // the third its only field; the others stay.
        let names: Vec<&str> = read.items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["b", "d"]);
        assert!(shape.covers("root.items[0].name"));
        assert!(shape.covers("root.items[0]"));
        assert!(shape.covers("root.items[2].name"));
        assert!(!shape.covers("root.items[1].name"));
        assert!(!shape.covers(""));
        // Paths in the document as read map back to the original one.
        assert_eq!(shape.translate("root.items[1].name"), "root.items[3].name");
        assert_eq!(shape.translate("root.items[0]"), "root.items[1]");
    }

    #[test]
    fn a_hostile_document_costs_a_bounded_number_of_reads() {
        let items: Vec<_> = (0..1000).map(|_| json!({"name": 1})).collect();
        let mut shape = Shape::default();
        let read: Option<Doc> = shape.read("", json!({ "items": items }));
        assert!(read.is_none());
        // Each element costs two removals (its name, then itself) for one problem; the
        // element met when the budget is spent is reported too, then the stop.
        assert_eq!(
            shape.problems.len(),
            MAX_REMOVALS / 2 + 2,
            "{:?}",
            shape.problems.last()
        );
        let last = shape.problems.last().expect("problems");
        assert!(last.message.contains("reading stopped"), "{last:?}");
    }

    #[test]
    fn a_root_that_cannot_be_read_is_one_problem() {
        let mut shape = Shape::default();
        assert!(shape.read::<Doc>("", json!("text")).is_none());
        assert_eq!(shape.problems.len(), 1);
    }
}
