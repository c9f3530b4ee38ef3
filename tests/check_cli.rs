//! `ringlb check -c FILE`: every bad config of `tests/configs/bad/` is rejected with the
//! diagnostic recorded in `tests/configs/bad/EXPECTED`, the good one passes.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `ringlb check -c PATH` from the repository root, so paths in messages are relative.
fn check(path: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringlb"))
        .args(["check", "-c", path])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("run ringlb check: {e}"))
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_bad_config_gives_its_expected_first_error() {
    let expected = fs::read_to_string(root().join("tests/configs/bad/EXPECTED"))
        .expect("read tests/configs/bad/EXPECTED");
    let mut failures = Vec::new();
    let mut checked = Vec::new();
    for line in expected.lines().filter(|l| !l.trim().is_empty()) {
        let path = line
            .split_once(".toml")
            .map(|(p, _)| format!("{p}.toml"))
            .unwrap_or_else(|| panic!("EXPECTED line without a .toml path: {line}"));
        let out = check(&path);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr.lines().next().unwrap_or_default();
        if out.status.success() {
            failures.push(format!("{path}: exit status 0, expected failure"));
        }
        if first != line {
            failures.push(format!("{path}:\n  expected: {line}\n  got:      {first}"));
        }
        checked.push(path);
    }
    // every bad config is listed, so a new one cannot silently go untested
    let mut files: Vec<String> = fs::read_dir(root().join("tests/configs/bad"))
        .expect("list tests/configs/bad")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .map(|n| format!("tests/configs/bad/{n}"))
        .collect();
    files.sort();
    checked.sort();
    assert_eq!(files, checked, "EXPECTED and the bad/*.toml files differ");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn good_config_passes() {
    let out = check("tests/configs/good/basic.toml");
    assert!(
        out.status.success(),
        "exit {:?}, stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn missing_file_is_an_error() {
    let out = check("tests/configs/does-not-exist.toml");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does-not-exist.toml"), "{stderr}");
}

/// A file the configuration names (here a `return` rule's body) that cannot be read: the
/// error names the rule's line and column and the file, and the summary does not blame
/// certificates.
#[test]
fn an_unreadable_return_file_is_named_at_its_rule() {
    let dir = std::env::temp_dir().join(format!("ringlb-check-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("return-file.toml");
    fs::write(
        &path,
        "[frontend.www]\nbind = \"127.0.0.1:0\"\ndefault_backend = \"web\"\n\n\
         [[frontend.www.request_rule]]\naction = \"return\"\nfile = \"/nonexistent/page.html\"\n\n\
         [backend.web]\n[[backend.web.server]]\nname = \"a\"\naddress = \"127.0.0.1:9\"\n",
    )
    .expect("write config");
    let out = check(path.to_str().expect("utf-8 path"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "return-file.toml:5:1: error: cannot read return body file \"/nonexistent/page.html\""
        ),
        "{stderr}"
    );
    assert!(stderr.contains("a file it names does not load"), "{stderr}");
    assert!(!stderr.contains("certificate"), "{stderr}");
    let _ = fs::remove_dir_all(&dir);
}
