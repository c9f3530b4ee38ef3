//! The fired edits of a request or response, applied while its head is written.
//!
//! Rules run in order, as HAProxy runs them: a `set_header` or `del_header` removes the fields
//! of that name received *and* those added by earlier rules; a `replace_header` rewrites the
//! fields received and those added before it. The head is still written in one pass: a
//! received field line is decided by the rules that name it; an added line goes out after the
//! received ones unless a later rule removes it.

use std::borrow::Cow;

use super::{Compiled, Fired, RuleSet};
use crate::http::{FieldEdit, FieldLine};

/// The edits of up to two rule sets (a frontend's and a backend's, in the order they run),
/// with another edit (persistence) applied to the lines no rule touched.
pub struct Edits<'a> {
    sets: [(&'a RuleSet, Fired); 2],
    then: &'a dyn FieldEdit,
}

impl<'a> Edits<'a> {
    /// `first`'s fired rules run before `second`'s; `then` edits what they leave alone.
    pub fn new(
        first: (&'a RuleSet, Fired),
        second: (&'a RuleSet, Fired),
        then: &'a dyn FieldEdit,
    ) -> Edits<'a> {
        Edits {
            sets: [first, second],
            then,
        }
    }

    /// Every fired rule, in order.
    fn all(&self) -> impl Iterator<Item = &'a Compiled> + '_ {
        self.sets.iter().flat_map(|(set, fired)| set.fired(*fired))
    }

    fn edits_target(&self) -> bool {
        self.sets
            .iter()
            .any(|(set, fired)| fired.any() && set.edits_target)
    }
}

/// A field value after a `replace_header` whose regex matched it: the whole value becomes the
/// expansion of `with` (HAProxy's semantics); `None` when the regex does not match.
fn replaced(regex: &regex::bytes::Regex, with: &[u8], value: &[u8]) -> Option<Vec<u8>> {
    let caps = regex.captures(value)?;
    let mut out = Vec::with_capacity(with.len() + value.len());
    caps.expand(with, &mut out);
    Some(out)
}

impl FieldEdit for Edits<'_> {
    fn start(&self, line: &[u8], out: &mut Vec<u8>) -> bool {
        if !self.edits_target() {
            return self.then.start(line, out);
        }
        let body = line.strip_suffix(b"\r\n").unwrap_or(line);
        let (Some(sp1), Some(sp2)) = (
            body.iter().position(|&b| b == b' '),
            body.iter().rposition(|&b| b == b' '),
        ) else {
            return false;
        };
        if sp2 <= sp1 {
            return false;
        }
        let method = body.get(..sp1).unwrap_or(&[]);
        let target = body.get(sp1 + 1..sp2).unwrap_or(&[]);
        let version = body.get(sp2 + 1..).unwrap_or(&[]);
        // An absolute-form target keeps its scheme and authority.
        let origin_at = match target.windows(3).position(|w| w == b"://") {
            Some(i) => {
                let rest = target.get(i + 3..).unwrap_or(&[]);
                i + 3
                    + rest
                        .iter()
                        .position(|&b| b == b'/' || b == b'?')
                        .unwrap_or(rest.len())
            }
            None => 0,
        };
        let prefix = target.get(..origin_at).unwrap_or(&[]);
        let origin = target.get(origin_at..).unwrap_or(&[]);
        let (mut path, mut query) = match origin.iter().position(|&b| b == b'?') {
            Some(q) => (
                origin.get(..q).unwrap_or(&[]),
                Some(origin.get(q + 1..).unwrap_or(&[])),
            ),
            None => (origin, None),
        };
        for c in self.all() {
            match c {
                Compiled::Path(p) => path = p,
                Compiled::Query(q) if q.is_empty() => query = None,
                Compiled::Query(q) => query = Some(q),
                _ => {}
            }
        }
        out.extend_from_slice(method);
        out.push(b' ');
        out.extend_from_slice(prefix);
        out.extend_from_slice(path);
        if let Some(q) = query {
            out.push(b'?');
            out.extend_from_slice(q);
        }
        out.push(b' ');
        out.extend_from_slice(version);
        out.extend_from_slice(b"\r\n");
        true
    }

    fn owns(&self, name: &[u8]) -> bool {
        self.all().any(|c| c.field() == Some(name)) || self.then.owns(name)
    }

    fn line(&self, f: &FieldLine<'_>, out: &mut Vec<u8>) -> bool {
        let mut value: Option<Cow<'_, [u8]>> = None;
        for c in self.all() {
            if !c.field().is_some_and(|n| f.is(n)) {
                continue;
            }
            match c {
                Compiled::Set { .. } | Compiled::Del { .. } => return true,
                Compiled::Replace { regex, with, .. } => {
                    let now = value.as_deref().unwrap_or(f.value);
                    if let Some(v) = replaced(regex, with, now) {
                        value = Some(Cow::Owned(v));
                    }
                }
                _ => {}
            }
        }
        match value {
            Some(v) => {
                out.extend_from_slice(f.name);
                out.extend_from_slice(b": ");
                out.extend_from_slice(&v);
                out.extend_from_slice(b"\r\n");
                true
            }
            None => self.then.line(f, out),
        }
    }

    fn append(&self, out: &mut Vec<u8>) {
        for (i, c) in self.all().enumerate() {
            let (Compiled::Set {
                lower,
                line,
                value_at,
            }
            | Compiled::Add {
                lower,
                line,
                value_at,
            }) = c
            else {
                continue;
            };
            let mut alive = true;
            let mut value: Option<Vec<u8>> = None;
            for later in self.all().skip(i + 1) {
                if later.field() != Some(lower.as_slice()) {
                    continue;
                }
                match later {
                    Compiled::Set { .. } | Compiled::Del { .. } => {
                        alive = false;
                        break;
                    }
                    Compiled::Replace { regex, with, .. } => {
                        let now = match &value {
                            Some(v) => v.as_slice(),
                            None => line
                                .get(*value_at..line.len().saturating_sub(2))
                                .unwrap_or(&[]),
                        };
                        if let Some(v) = replaced(regex, with, now) {
                            value = Some(v);
                        }
                    }
                    _ => {}
                }
            }
            if !alive {
                continue;
            }
            match value {
                Some(v) => {
                    out.extend_from_slice(line.get(..*value_at).unwrap_or(&[]));
                    out.extend_from_slice(&v);
                    out.extend_from_slice(b"\r\n");
                }
                None => out.extend_from_slice(line),
            }
        }
        self.then.append(out);
    }
}
