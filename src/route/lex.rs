//! The lexer of ACL definitions and conditions: whitespace-separated tokens, quoted values
//! (`"a b"`, `'a b'`, backslash escapes the next character), each with its byte offset.

use super::expr::ParseError;

#[derive(Debug)]
pub(super) struct Tok {
    pub(super) offset: usize,
    pub(super) text: String,
    /// Quoted tokens are always values, never operators, braces or flags.
    pub(super) quoted: bool,
}

impl Tok {
    pub(super) fn is(&self, word: &str) -> bool {
        !self.quoted && self.text == word
    }
}

pub(super) fn lex(text: &str) -> Result<Vec<Tok>, ParseError> {
    let mut toks = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' || c == '\'' {
            chars.next();
            let mut closed = false;
            while let Some((_, d)) = chars.next() {
                if d == c {
                    closed = true;
                    break;
                }
                if d == '\\' {
                    match chars.next() {
                        Some((_, e)) => word.push(e),
                        None => break,
                    }
                } else {
                    word.push(d);
                }
            }
            if !closed {
                return Err(
                    ParseError::new(start, format!("unterminated {c}quoted{c} value"))
                        .help(format!("close it with {c}")),
                );
            }
            toks.push(Tok {
                offset: start,
                text: word,
                quoted: true,
            });
            continue;
        }
        while let Some(&(_, d)) = chars.peek() {
            if d.is_whitespace() {
                break;
            }
            word.push(d);
            chars.next();
        }
        toks.push(Tok {
            offset: start,
            text: word,
            quoted: false,
        });
    }
    Ok(toks)
}
