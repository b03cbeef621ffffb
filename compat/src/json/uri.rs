//! Just enough URI and JSON Pointer handling to resolve `$ref`s: RFC 3986 reference
//! resolution against a `$id` base, fragment splitting, and RFC 6901 pointers.

/// Splits `uri` at its first `#` into (document part, fragment without the `#`).
pub(crate) fn split_fragment(uri: &str) -> (&str, Option<&str>) {
    match uri.find('#') {
        Some(i) => (&uri[..i], Some(&uri[i + 1..])),
        None => (uri, None),
    }
}

fn scheme_len(uri: &str) -> Option<usize> {
    let colon = uri.find(':')?;
    let scheme = &uri[..colon];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    if first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        Some(colon)
    } else {
        None
    }
}

/// Whether `uri` is absolute (has a scheme).
pub(crate) fn is_absolute(uri: &str) -> bool {
    scheme_len(uri).is_some()
}

/// Resolves `reference` (no fragment) against `base` (no fragment). An empty base
/// leaves relative references as they are, so a root without `$id` resolves
/// `address.json` to `address.json`.
pub(crate) fn resolve(base: &str, reference: &str) -> String {
    if reference.is_empty() {
        return base.to_string();
    }
    if is_absolute(reference) || base.is_empty() {
        return remove_dot_segments_in(reference);
    }
    let Some(slen) = scheme_len(base) else {
        // A relative base (`$id: "schemas/a.json"`): merge paths all the same.
        return merge_relative(base, reference);
    };
    let scheme = &base[..=slen];
    let rest = &base[slen + 1..];
    if let Some(r) = reference.strip_prefix("//") {
        return format!("{scheme}//{r}");
    }
    // authority = "//host" part of the base, if any.
    let (authority, path) = if let Some(after) = rest.strip_prefix("//") {
        match after.find('/') {
            Some(i) => (&rest[..i + 2], &after[i..]),
            None => (rest, ""),
        }
    } else {
        ("", rest)
    };
    let path = path.split('?').next().unwrap_or("");
    let merged = if reference.starts_with('/') {
        reference.to_string()
    } else if let Some(q) = reference.strip_prefix('?') {
        format!("{path}?{q}")
    } else {
        match path.rfind('/') {
            Some(i) => format!("{}{}", &path[..=i], reference),
            None if !authority.is_empty() => format!("/{reference}"),
            None => reference.to_string(),
        }
    };
    format!("{scheme}{authority}{}", remove_dot_segments(&merged))
}

fn merge_relative(base: &str, reference: &str) -> String {
    if reference.starts_with('/') {
        return remove_dot_segments(reference);
    }
    match base.rfind('/') {
        Some(i) => remove_dot_segments(&format!("{}{}", &base[..=i], reference)),
        None => remove_dot_segments(reference),
    }
}

fn remove_dot_segments_in(uri: &str) -> String {
    match scheme_len(uri) {
        Some(_) => uri.to_string(),
        None => remove_dot_segments(uri),
    }
}

fn remove_dot_segments(path: &str) -> String {
    if !path.contains("./") && !path.ends_with("/.") && !path.ends_with("/..") {
        return path.to_string();
    }
    let absolute = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing_slash = false;
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => trailing_slash = i == last,
            ".." => {
                if out.len() > usize::from(absolute) {
                    out.pop();
                }
                trailing_slash = i == last;
            }
            s => {
                out.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut joined = out.join("/");
    if trailing_slash {
        joined.push('/');
    }
    joined
}

/// Escapes one JSON Pointer reference token (RFC 6901).
pub(crate) fn escape_token(token: &str) -> String {
    if token.contains(['~', '/']) {
        token.replace('~', "~0").replace('/', "~1")
    } else {
        token.to_string()
    }
}

/// Unescapes one JSON Pointer reference token.
pub(crate) fn unescape_token(token: &str) -> String {
    if token.contains('~') {
        token.replace("~1", "/").replace("~0", "~")
    } else {
        token.to_string()
    }
}

/// Percent-decodes a URI fragment (`#/definitions/a%20b`). Invalid escapes are kept.
pub(crate) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_references() {
        assert_eq!(
            resolve("http://example.com/schemas/order.json", "address.json"),
            "http://example.com/schemas/address.json"
        );
        assert_eq!(
            resolve("http://example.com/schemas/order.json", "/other.json"),
            "http://example.com/other.json"
        );
        assert_eq!(
            resolve("http://example.com/schemas/order.json", "../x.json"),
            "http://example.com/x.json"
        );
        assert_eq!(resolve("", "address.json"), "address.json");
        assert_eq!(
            resolve("http://example.com", "a.json"),
            "http://example.com/a.json"
        );
        assert_eq!(resolve("urn:x", "urn:y"), "urn:y");
        assert_eq!(resolve("schemas/a.json", "b.json"), "schemas/b.json");
    }

    #[test]
    fn pointer_tokens_round_trip() {
        assert_eq!(escape_token("a/b~c"), "a~1b~0c");
        assert_eq!(unescape_token("a~1b~0c"), "a/b~c");
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%"), "%");
    }
}
