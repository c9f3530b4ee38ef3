//! Header rules and ringlb's configurable answers: what `[[frontend.X.request_rule]]`,
//! `[[frontend.X.response_rule]]` (and the same in a backend) do to a request or a response,
//! and the error pages of `[frontend.X.errorfile]` / `[backend.X.errorfile]`.
//!
//! This room is pure: no I/O, no clock, no threads. It may import std, `regex`, `track` (the
//! counters a condition reads), `route` (rule
//! conditions are routing's conditions, evaluated by its [`Router`]: there is one condition
//! evaluator in ringlb) and `http` (the rewrite step's [`FieldEdit`](crate::http::FieldEdit),
//! the field scanner, ringlb's own responses). `config` parses into the types of this room; the
//! snapshot compiles them into [`RuleSet`]s and reads the files they name; the proxy calls
//! [`RuleSet::eval`] once per request and applies what fired while it writes heads.
//!
//! - [`RuleSet`]: the rules of one section in order, each guarded by a condition;
//!   evaluation gives a [`Fired`] set (a bit per rule) and possibly an answer (deny, return,
//!   redirect), which stops evaluation as in HAProxy;
//! - [`edit`]: the fired header, path and query edits as a `FieldEdit`, applied while the head
//!   is written (once), composed with persistence's edits;
//! - [`answer`]: the responses of `redirect` and `return`; [`ErrorPage`]: an errorfile
//!   checked at load.
//!
//! Invariants: evaluating and applying rules never panics and never allocates unless a rule
//! fired whose edit needs it (a regex replacement, a new path); an empty rule set is skipped
//! by the proxy without a call. Conditions see the request as the client sent it: edits are
//! applied when the head is written, so one rule's edit is not seen by the next rule's
//! condition nor by routing (docs/config-reference.md says so).

pub mod answer;
pub mod edit;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use regex::bytes::Regex;

use crate::route::{Acl, Guard, InvalidPath, RequestView, Router, UnknownAcl};

pub use answer::{ErrorPage, ErrorPages, PageError, MAX_PAGE};
pub use edit::Edits;

/// Most rules in one section's request (or response) list: a fired set is one `u64`.
pub const MAX_RULES: usize = 64;

/// Statuses a `deny` may answer with (each has a page ringlb can send).
pub const DENY_STATUSES: &[u16] = &[
    400, 403, 404, 405, 408, 410, 413, 421, 425, 429, 500, 501, 502, 503, 504,
];

/// Statuses an errorfile can replace: every error ringlb makes itself.
pub const ERRORFILE_STATUSES: &[u16] = &[
    400, 403, 404, 405, 408, 410, 413, 414, 421, 425, 429, 431, 500, 501, 502, 503, 504, 505,
];

/// Redirect codes.
pub const REDIRECT_CODES: &[u16] = &[301, 302, 303, 307, 308];

/// A regular expression compared by its text (rules are compared when configs are).
#[derive(Debug, Clone)]
pub struct Pattern(pub Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// Where a redirect goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectTo {
    /// `Location` is exactly this.
    Location(String),
    /// `Location` is this followed by the request's path (and query unless dropped).
    Prefix(String),
    /// `Location` is `SCHEME://HOST` followed by the path (and query unless dropped).
    Scheme(String),
}

/// The body of a `return`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Inline(String),
    /// Read when the config is loaded (start and reload), never per request.
    File(PathBuf),
}

/// What a rule does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Removes every field `name` and adds `name: value`.
    SetHeader { name: String, value: String },
    /// Adds `name: value`, keeping the others.
    AddHeader { name: String, value: String },
    /// Removes every field `name`.
    DelHeader { name: String },
    /// In every field `name` whose value `regex` matches, the whole value becomes `with`
    /// with `$1`, `${name}` … replaced by the captures (HAProxy's `replace-header`).
    ReplaceHeader {
        name: String,
        regex: Pattern,
        with: String,
    },
    /// The path part of the request target becomes `value` (the query stays).
    SetPath { value: String },
    /// The query becomes `value` (without `?`); empty removes it.
    SetQuery { value: String },
    /// Answers with a redirect; the request goes no further.
    Redirect {
        to: RedirectTo,
        code: u16,
        drop_query: bool,
    },
    /// Answers with ringlb's page for `status` (or its errorfile).
    Deny { status: u16 },
    /// Answers with `status`, `content_type` and `body`.
    Return {
        status: u16,
        content_type: String,
        body: Body,
        /// Seconds for a `Retry-After` field (a 429 or 503 telling the client when to come
        /// back).
        retry_after: Option<u32>,
    },
    /// Holds the request for `delay`, then answers like `deny` with `status` and closes
    /// (HAProxy's `tarpit`): an abusive client waits instead of retrying at once.
    Tarpit { status: u16, delay: Duration },
}

impl Action {
    /// The action's name as the config writes it.
    pub fn name(&self) -> &'static str {
        match self {
            Action::SetHeader { .. } => "set_header",
            Action::AddHeader { .. } => "add_header",
            Action::DelHeader { .. } => "del_header",
            Action::ReplaceHeader { .. } => "replace_header",
            Action::SetPath { .. } => "set_path",
            Action::SetQuery { .. } => "set_query",
            Action::Redirect { .. } => "redirect",
            Action::Deny { .. } => "deny",
            Action::Return { .. } => "return",
            Action::Tarpit { .. } => "tarpit",
        }
    }

    /// Whether it ends the request with ringlb's answer.
    pub fn answers(&self) -> bool {
        matches!(
            self,
            Action::Redirect { .. }
                | Action::Deny { .. }
                | Action::Return { .. }
                | Action::Tarpit { .. }
        )
    }

    /// Whether a response rule may do it (responses only get header edits).
    pub fn on_responses(&self) -> bool {
        matches!(
            self,
            Action::SetHeader { .. }
                | Action::AddHeader { .. }
                | Action::DelHeader { .. }
                | Action::ReplaceHeader { .. }
        )
    }
}

/// One rule: an action and when it applies.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub action: Action,
    pub guard: Guard,
}

/// An answer a rule makes, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// ringlb's page (or errorfile) for this status.
    Deny(u16),
    /// A `return`: status, content type, body (a file's contents already read).
    Return {
        status: u16,
        content_type: String,
        body: Vec<u8>,
        retry_after: Option<u32>,
    },
    /// Wait `delay`, then ringlb's page (or errorfile) for `status`, and close.
    Tarpit { status: u16, delay: Duration },
    Redirect {
        to: RedirectTo,
        code: u16,
        drop_query: bool,
    },
}

/// A rule ready to run: header names lowercased for matching, answers resolved.
#[derive(Debug, Clone)]
pub(crate) enum Compiled {
    /// `line` is the whole field line to add (CRLF included); its value starts at `value_at`.
    Set {
        lower: Vec<u8>,
        line: Vec<u8>,
        value_at: usize,
    },
    Add {
        lower: Vec<u8>,
        line: Vec<u8>,
        value_at: usize,
    },
    Del {
        lower: Vec<u8>,
    },
    Replace {
        lower: Vec<u8>,
        regex: Regex,
        with: Vec<u8>,
    },
    Path(Vec<u8>),
    Query(Vec<u8>),
    Answer(Answer),
}

impl Compiled {
    /// The field name it edits (lowercase), if it edits fields.
    fn field(&self) -> Option<&[u8]> {
        match self {
            Compiled::Set { lower, .. }
            | Compiled::Add { lower, .. }
            | Compiled::Del { lower }
            | Compiled::Replace { lower, .. } => Some(lower),
            _ => None,
        }
    }
}

/// Which rules of a set fired for one request: bit `i` is rule `i`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fired(pub u64);

impl Fired {
    pub fn any(self) -> bool {
        self.0 != 0
    }

    fn has(self, i: usize) -> bool {
        i < MAX_RULES && self.0 & (1u64 << i) != 0
    }
}

/// What evaluating a request's rules gave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdict<'s> {
    /// The edits that fired before evaluation stopped.
    pub fired: Fired,
    /// The answer of the first answering rule whose condition held.
    pub answer: Option<&'s Answer>,
    /// That rule's condition tests a tracking counter (the answer counts as a denial of
    /// the frontend's table).
    pub by_tracking: bool,
}

/// The rules of one section (a frontend's or a backend's requests or responses), in order.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// Each rule's guard, with the rule's index as its target.
    router: Router<usize>,
    rules: Vec<Compiled>,
    /// Some rule edits the request line (path or query).
    pub(crate) edits_target: bool,
    /// Bit `i`: rule `i`'s condition tests a tracking counter (`sc_*`).
    tracking: u64,
}

/// A rule the snapshot could not compile (only what validation should have caught).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompileError {
    UnknownAcl(UnknownAcl),
    TooMany(usize),
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompileError::UnknownAcl(e) => e.fmt(f),
            CompileError::TooMany(n) => write!(f, "{n} rules (at most {MAX_RULES})"),
        }
    }
}

impl RuleSet {
    /// An empty set: nothing to evaluate.
    pub fn empty() -> RuleSet {
        RuleSet {
            router: Router::empty(),
            rules: Vec::new(),
            edits_target: false,
            tracking: 0,
        }
    }

    /// Compiles `rules` against `acls`; `bodies` gives the contents of each `return` whose
    /// body is a file, in rule order (read by the caller when the config is loaded).
    pub fn compile(
        acls: &[Acl],
        rules: &[Rule],
        mut file_body: impl FnMut(&std::path::Path) -> Vec<u8>,
    ) -> Result<RuleSet, CompileError> {
        if rules.len() > MAX_RULES {
            return Err(CompileError::TooMany(rules.len()));
        }
        let router = Router::new(acls, rules.iter().enumerate().map(|(i, r)| (&r.guard, i)))
            .map_err(CompileError::UnknownAcl)?;
        let line = |name: &str, value: &str| format!("{name}: {value}\r\n").into_bytes();
        let lower = |name: &str| name.to_ascii_lowercase().into_bytes();
        let compiled = rules
            .iter()
            .map(|r| match &r.action {
                Action::SetHeader { name, value } => Compiled::Set {
                    lower: lower(name),
                    line: line(name, value),
                    value_at: name.len() + 2,
                },
                Action::AddHeader { name, value } => Compiled::Add {
                    lower: lower(name),
                    line: line(name, value),
                    value_at: name.len() + 2,
                },
                Action::DelHeader { name } => Compiled::Del { lower: lower(name) },
                Action::ReplaceHeader { name, regex, with } => Compiled::Replace {
                    lower: lower(name),
                    regex: regex.0.clone(),
                    with: with.clone().into_bytes(),
                },
                Action::SetPath { value } => Compiled::Path(value.clone().into_bytes()),
                Action::SetQuery { value } => Compiled::Query(value.clone().into_bytes()),
                Action::Redirect {
                    to,
                    code,
                    drop_query,
                } => Compiled::Answer(Answer::Redirect {
                    to: to.clone(),
                    code: *code,
                    drop_query: *drop_query,
                }),
                Action::Deny { status } => Compiled::Answer(Answer::Deny(*status)),
                Action::Return {
                    status,
                    content_type,
                    body,
                    retry_after,
                } => Compiled::Answer(Answer::Return {
                    status: *status,
                    content_type: content_type.clone(),
                    body: match body {
                        Body::Inline(s) => s.clone().into_bytes(),
                        Body::File(p) => file_body(p),
                    },
                    retry_after: *retry_after,
                }),
                Action::Tarpit { status, delay } => Compiled::Answer(Answer::Tarpit {
                    status: *status,
                    delay: *delay,
                }),
            })
            .collect::<Vec<_>>();
        let edits_target = compiled
            .iter()
            .any(|c| matches!(c, Compiled::Path(_) | Compiled::Query(_)));
        let tracking = (0..compiled.len().min(MAX_RULES))
            .filter(|&i| router.rule_tests(i, crate::route::Criterion::tracks))
            .fold(0u64, |acc, i| acc | 1u64 << i);
        Ok(RuleSet {
            router,
            rules: compiled,
            edits_target,
            tracking,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Evaluates the rules in order against `req`: the edits whose condition holds, up to the
    /// first answering rule whose condition holds (which ends evaluation).
    ///
    /// `Err` when a path criterion had to be evaluated and the path is malformed (the proxy
    /// answers 400, as routing does).
    pub fn eval(&self, req: &RequestView<'_>) -> Result<Verdict<'_>, InvalidPath> {
        self.eval_tracked(req, None)
    }

    /// Whether some rule's condition tests a tracking counter (the proxy then reads the
    /// client's counters before evaluating).
    pub fn tests_tracking(&self) -> bool {
        self.tracking != 0
    }

    /// [`RuleSet::eval`] for a client whose tracking counters are `track`.
    pub fn eval_tracked(
        &self,
        req: &RequestView<'_>,
        track: Option<&crate::track::Sample>,
    ) -> Result<Verdict<'_>, InvalidPath> {
        let mut v = Verdict::default();
        self.router.each_match_tracked(req, track, |&i| {
            match self.rules.get(i) {
                Some(Compiled::Answer(a)) => {
                    v.answer = Some(a);
                    v.by_tracking = i < MAX_RULES && self.tracking & (1u64 << i) != 0;
                    return false;
                }
                Some(_) if i < MAX_RULES => v.fired.0 |= 1u64 << i,
                _ => {}
            }
            true
        })?;
        Ok(v)
    }

    /// The fired rules, in order.
    fn fired(&self, fired: Fired) -> impl Iterator<Item = &Compiled> + '_ {
        self.rules
            .iter()
            .enumerate()
            .filter(move |(i, _)| fired.has(*i))
            .map(|(_, c)| c)
    }
}
