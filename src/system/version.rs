//! The version ringlb reports (`ringlb --version`, the stats page, `/;json`, metrics): Cargo's
//! package version, unless a packager stamped another one into the binary.
//!
//! The version lives in a section of its own, `.ringlb_version`: [`STAMP_LEN`] bytes, the
//! version then NUL padding. `scripts/build-deb` rewrites the section with the package's
//! version (`objcopy --update-section`), so a binary in `ringlb_0.1.0+site1_amd64.deb`
//! reports `0.1.0+site1` and an upgrade shows which binary now runs. The bytes are read
//! through an opaque reference, so the compiler cannot fold in the value it linked.

/// Size of the stamp section: the version and its NUL padding.
pub const STAMP_LEN: usize = 64;

/// The section `scripts/build-deb` rewrites.
pub const STAMP_SECTION: &str = ".ringlb_version";

#[used]
#[link_section = ".ringlb_version"]
static STAMP: [u8; STAMP_LEN] = stamp(env!("CARGO_PKG_VERSION"));

/// `version` as the padded section contents (cut at `STAMP_LEN - 1` bytes: one NUL stays).
#[allow(
    clippy::indexing_slicing,
    reason = "evaluated at compile time for STAMP: an index out of range fails the build"
)]
const fn stamp(version: &str) -> [u8; STAMP_LEN] {
    let src = version.as_bytes();
    let mut out = [0u8; STAMP_LEN];
    let mut i = 0;
    while i < src.len() && i < STAMP_LEN - 1 {
        out[i] = src[i];
        i += 1;
    }
    out
}

/// The version of this binary: the stamp, or Cargo's version if the stamp is not valid UTF-8
/// or empty.
pub fn version() -> &'static str {
    let bytes: &'static [u8; STAMP_LEN] = std::hint::black_box(&STAMP);
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(STAMP_LEN);
    match bytes.get(..end).map(std::str::from_utf8) {
        Some(Ok(v)) if !v.is_empty() => v,
        _ => env!("CARGO_PKG_VERSION"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unstamped_binary_reports_cargo_version() {
        assert_eq!(version(), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn stamp_pads_with_nul_and_keeps_one() {
        let s = stamp("0.1.0+test1");
        assert_eq!(&s[..11], b"0.1.0+test1");
        assert!(s[11..].iter().all(|&b| b == 0));
        let long = "x".repeat(100);
        assert_eq!(stamp(&long)[STAMP_LEN - 1], 0);
    }
}
