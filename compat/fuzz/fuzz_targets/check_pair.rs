//! Fuzz the checker: two schemas of one format (the first byte picks it, a NUL byte
//! splits them) are compared at FULL_TRANSITIVE without panicking, and every schema is
//! compatible with itself.
#![no_main]
use accord_compat::{check, parse, CompatibilityLevel, Existing, SchemaFormat};
use libfuzzer_sys::fuzz_target;

static HOOK: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    // protox can panic inside prost-reflect while formatting some errors; accord-compat
    // catches that with catch_unwind, which libFuzzer's aborting panic hook would
    // defeat. A silent hook keeps caught panics caught; an uncaught one still aborts
    // (libfuzzer-sys catches it at the boundary) and is reported as a crash.
    HOOK.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let Some((&selector, rest)) = data.split_first() else { return };
    let format = SchemaFormat::ALL[(selector % 3) as usize];
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let (a, b) = text.split_once('\0').unwrap_or((text, text));
    let (Ok(old), Ok(new)) = (parse(format, a, &[]), parse(format, b, &[])) else { return };
    let _ = check(CompatibilityLevel::FullTransitive, &new, &[Existing { version: 1, schema: &old }]);
    let own = check(CompatibilityLevel::FullTransitive, &old, &[Existing { version: 1, schema: &old }]);
    assert!(own.is_compatible(), "a schema is incompatible with itself: {:?}", own.incompatibilities);
});
