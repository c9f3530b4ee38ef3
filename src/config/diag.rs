//! One config error, positioned in the file, printed the way compilers print them so editors
//! and operators can jump to it: `ringlb.toml:12:9: error: … ` then `  help: …`.

use std::fmt;

/// A problem found in a config file.
///
/// `line` and `col` are 1-based; `col` counts characters, not bytes, so it matches what an
/// editor shows on lines containing non-ASCII text. A problem about the whole file (unreadable,
/// no frontend at all) has `line == 0` and `col == 0` and prints without a position.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
    /// How to fix it, when ringlb can tell (a suggested key, the accepted values, …).
    pub help: Option<String>,
}

impl Diagnostic {
    /// A problem about the whole file.
    pub fn file(file: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_owned(),
            line: 0,
            col: 0,
            message: message.into(),
            help: None,
        }
    }

    /// A problem at `offset` (a byte offset into `text`, clamped to its end and rounded down to
    /// a character boundary).
    pub fn at(file: &str, text: &str, offset: usize, message: impl Into<String>) -> Self {
        let (line, col) = line_col(text, offset);
        Diagnostic {
            file: file.to_owned(),
            line,
            col,
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// 1-based line and character column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: error: {}", self.file, self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: error: {}",
                self.file, self.line, self.col, self.message
            )?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_with_position_and_help() {
        let d = Diagnostic::at("ringlb.toml", "a = 1\nbalance = \"x\"\n", 16, "bad")
            .with_help("fix it");
        assert_eq!(d.line, 2);
        assert_eq!(d.col, 11);
        assert_eq!(
            d.to_string(),
            "ringlb.toml:2:11: error: bad\n  help: fix it"
        );
    }

    #[test]
    fn display_whole_file() {
        let d = Diagnostic::file("x.toml", "cannot read config: gone");
        assert_eq!(d.to_string(), "x.toml: error: cannot read config: gone");
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        // "é" is two bytes; the `x` after it is the third character of the line.
        let text = "é\néé x";
        let x = text.find('x').unwrap_or(0);
        let d = Diagnostic::at("f", text, x, "m");
        assert_eq!((d.line, d.col), (2, 4));
    }

    #[test]
    fn offsets_are_clamped_and_rounded_to_char_boundaries() {
        let d = Diagnostic::at("f", "ab", 99, "m");
        assert_eq!((d.line, d.col), (1, 3));
        // Byte 1 is inside "é": report the character that contains it.
        let d = Diagnostic::at("f", "éx", 1, "m");
        assert_eq!((d.line, d.col), (1, 1));
        let d = Diagnostic::at("f", "", 0, "m");
        assert_eq!((d.line, d.col), (1, 1));
    }
}
