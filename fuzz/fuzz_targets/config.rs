//! Config loader: any text gives a config or diagnostics, never a panic; every diagnostic
//! points inside the file. Host names resolve through a table (no network while fuzzing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;

fn resolve(host_port: &str) -> std::io::Result<Option<SocketAddr>> {
    let port = host_port
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .unwrap_or(80);
    if host_port.starts_with("nowhere") {
        return Ok(None);
    }
    if host_port.starts_with("broken") {
        return Err(std::io::Error::other("resolver failure"));
    }
    Ok(Some(SocketAddr::from(([192, 0, 2, 1], port))))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ringlb::config::parse_str_with(text, "fuzz.toml", &resolve) {
        Ok(cfg) => {
            assert!(
                !cfg.frontends.is_empty(),
                "a config without a frontend was accepted"
            );
            let _ = format!("{cfg:?}");
        }
        Err(diags) => {
            assert!(!diags.is_empty(), "refused without a diagnostic");
            let lines = text.lines().count().max(1) + 1;
            for d in &diags {
                let shown = d.to_string();
                assert!(shown.starts_with("fuzz.toml"), "{shown}");
                assert!(
                    d.line <= lines,
                    "line {} beyond the file ({lines}): {shown}",
                    d.line
                );
            }
        }
    }
});
