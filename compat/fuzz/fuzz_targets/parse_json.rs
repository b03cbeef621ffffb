//! Fuzz the Json parser: any input is a schema or an error, never a panic; whatever
//! parses prints canonical and normalised texts that parse again.
#![no_main]
use accord_compat::{parse, SchemaFormat};
use libfuzzer_sys::fuzz_target;

static HOOK: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    // protox can panic inside prost-reflect while formatting some errors; accord-compat
    // catches that with catch_unwind, which libFuzzer's aborting panic hook would
    // defeat. A silent hook keeps caught panics caught; an uncaught one still aborts
    // (libfuzzer-sys catches it at the boundary) and is reported as a crash.
    HOOK.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(schema) = parse(SchemaFormat::Json, text, &[]) {
        for printed in [schema.canonical(), schema.normalized()] {
            assert!(parse(SchemaFormat::Json, &printed, &[]).is_ok(), "printed form does not parse: {printed}");
        }
    }
});
