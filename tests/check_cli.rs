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
