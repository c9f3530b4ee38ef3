//! haproxy.cfg importer: any text translates without panicking into TOML that parses as TOML,
//! and that ringlb's config loader then reads without panicking (host names through a table,
//! no network); every skipped line points inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;

fn resolve(_: &str) -> std::io::Result<Option<SocketAddr>> {
    Ok(Some(SocketAddr::from(([192, 0, 2, 1], 80))))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let t = ringlb::import::translate(text, "fuzz.cfg");
    if let Err(e) = t.toml.parse::<toml::Table>() {
        panic!("the importer wrote invalid TOML: {e}\n{}", t.toml);
    }
    let lines = text.lines().count().max(1);
    for s in &t.skipped {
        assert!(
            s.line >= 1 && s.line <= lines + 1,
            "skipped line {} of {lines}",
            s.line
        );
    }
    let _ = ringlb::config::parse_str_with(&t.toml, "translated.toml", &resolve);
});
