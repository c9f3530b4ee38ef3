//! Parsing of ACL definitions and route conditions, in HAProxy's syntax.
//!
//! An ACL definition is one criterion and its values: `path_beg -i /static/ /images/`.
//! A condition combines ACL names and inline criteria in braces:
//!
//! ```text
//! condition := and-group ( ("||" | "or") and-group )*
//! and-group := term ( ["&&" | "and"] term )*          juxtaposition means AND
//! term      := "!"* ( ACL-NAME | "{" criterion flag* value+ "}" )
//! flag      := "-i" (compare ignoring ASCII case) | "--" (end of flags)
//! ```
//!
//! There are no parentheses, as in HAProxy: AND binds tighter than OR, so a condition is an OR
//! of AND-groups and is stored that way ([`Condition::any_of`]). Tokens are separated by
//! whitespace; `{` and `}` must stand alone; a value with spaces is quoted (`"a b"`, `'a b'`,
//! backslash escapes the next character). Every error carries the byte offset of the token at
//! fault, so the config loader can name it.

use std::fmt;
use std::net::IpAddr;

use regex::bytes::{Regex, RegexBuilder};

use super::lex::{lex, Tok};
use super::normalize::{normalize_escapes, normalize_path, strip_query};

/// A syntax or value error at byte `offset` of the parsed string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub offset: usize,
    pub message: String,
    /// How to fix it, when that is clear.
    pub help: Option<String>,
}

impl ParseError {
    pub(super) fn new(offset: usize, message: impl Into<String>) -> Self {
        ParseError {
            offset,
            message: message.into(),
            help: None,
        }
    }

    pub(super) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.offset)
    }
}

impl std::error::Error for ParseError {}

/// The criterion names ringlb knows, for messages and suggestions.
pub const CRITERIA: &[&str] = &[
    "path",
    "path_beg",
    "path_end",
    "path_reg",
    "host",
    "host_end",
    "src",
    "method",
    "hdr(NAME)",
    "hdr_beg(NAME)",
    "hdr_end(NAME)",
    "ssl_fc",
    "ssl_fc_sni",
    "ssl_fc_sni_end",
    "req.ssl_sni",
    "sc_conn_cur",
    "sc_conn_rate",
    "sc_http_req_rate",
    "sc_http_err_rate",
    "sc_bytes_in_rate",
    "sc_bytes_out_rate",
];

/// How a tracked counter is compared with a condition's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Cmp {
    /// `gt` or `>`, …
    pub fn parse(word: &str) -> Option<Cmp> {
        Some(match word {
            "eq" | "=" | "==" => Cmp::Eq,
            "gt" | ">" => Cmp::Gt,
            "ge" | ">=" => Cmp::Ge,
            "lt" | "<" => Cmp::Lt,
            "le" | "<=" => Cmp::Le,
            _ => return None,
        })
    }

    pub fn holds(self, have: u64, want: u64) -> bool {
        match self {
            Cmp::Eq => have == want,
            Cmp::Gt => have > want,
            Cmp::Ge => have >= want,
            Cmp::Lt => have < want,
            Cmp::Le => have <= want,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Cmp::Eq => "eq",
            Cmp::Gt => "gt",
            Cmp::Ge => "ge",
            Cmp::Lt => "lt",
            Cmp::Le => "le",
        }
    }
}

/// How a string value is compared with the request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrMatch {
    Exact,
    Prefix,
    Suffix,
}

/// String values of one criterion; the criterion matches if any value does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strings {
    pub how: StrMatch,
    /// Compare ignoring ASCII case; the values are then stored lowercase.
    pub nocase: bool,
    pub values: Vec<Vec<u8>>,
}

/// A compiled `path_reg` pattern. Compared by its source text: two configs with the same
/// patterns are equal.
#[derive(Debug, Clone)]
pub struct PathRegex(pub Regex);

impl PartialEq for PathRegex {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// An address block. The stored address has its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// `10.0.0.0/8`, `2001:db8::/32`, or a bare address (one host).
    pub fn parse(text: &str) -> Option<Cidr> {
        let (ip, prefix) = match text.split_once('/') {
            Some((ip, bits)) => (ip.parse::<IpAddr>().ok()?, Some(bits.parse::<u8>().ok()?)),
            None => (text.parse::<IpAddr>().ok()?, None),
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return None;
        }
        Some(Cidr {
            addr: mask(ip, prefix),
            prefix,
        })
    }

    /// True if `ip` is in the block. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, what a
    /// dual-stack listener reports for IPv4 clients) are compared as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

/// One test on a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Criterion {
    /// `path`, `path_beg`, `path_end`: on the normalised path (values normalised too).
    Path(Strings),
    /// `path_reg`: on the normalised path.
    PathReg(Vec<PathRegex>),
    /// `host`, `host_end`: on the Host (port stripped), always ignoring case.
    Host(Strings),
    /// `src`: the client address.
    Src(Vec<Cidr>),
    /// `method`: the request method, case-sensitive unless `-i`.
    Method(Strings),
    /// `hdr(NAME)`, `hdr_beg(NAME)`, `hdr_end(NAME)`: any field named `name` (stored
    /// lowercase) whose value, without surrounding whitespace, matches.
    Header { name: Vec<u8>, test: Strings },
    /// `ssl_fc`: the client connection is TLS (takes no value).
    Tls,
    /// `ssl_fc_sni`, `ssl_fc_sni_end`: the server name the TLS client sent, ignoring case.
    Sni(Strings),
    /// `req.ssl_sni`: the server name in a TLS ClientHello that ringlb reads without
    /// terminating TLS (tcp mode: passthrough), ignoring case.
    HelloSni(Strings),
    /// `sc_http_req_rate gt 100`, …: a counter of the frontend's tracking table for this
    /// client (`[frontend.X.track]`); false for a client the table does not track.
    Track {
        counter: crate::track::Counter,
        cmp: Cmp,
        value: u64,
    },
}

impl Criterion {
    /// Whether it reads the tracking table.
    pub fn tracks(&self) -> bool {
        matches!(self, Criterion::Track { .. })
    }
}

/// A named condition of a frontend: `[frontend.X.acl] NAME = "criterion values…"`.
/// Several definitions under one name match if any of them does, as in HAProxy.
#[derive(Debug, Clone, PartialEq)]
pub struct Acl {
    pub name: String,
    pub criteria: Vec<Criterion>,
}

/// What a term tests.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// An ACL of the frontend, by name (the config loader checks that it exists).
    Acl(String),
    /// An anonymous ACL written in braces.
    Inline(Criterion),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub negated: bool,
    pub test: Test,
    /// Byte offset of the term in the condition text, for "unknown ACL" messages.
    pub offset: usize,
}

/// An OR of AND-groups of terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub any_of: Vec<Vec<Term>>,
}

impl Condition {
    /// The ACL names used, with their offsets.
    pub fn acl_refs(&self) -> impl Iterator<Item = (&str, usize)> {
        self.any_of.iter().flatten().filter_map(|t| match &t.test {
            Test::Acl(name) => Some((name.as_str(), t.offset)),
            Test::Inline(_) => None,
        })
    }
}

/// When a route applies.
#[derive(Debug, Clone, PartialEq)]
pub enum Guard {
    /// No `if`/`unless`: every request.
    Always,
    If(Condition),
    Unless(Condition),
}

// ---- criteria --------------------------------------------------------------------------------

/// Parses an ACL definition: a criterion, optional flags and one or more values.
pub fn parse_criterion(text: &str) -> Result<Criterion, ParseError> {
    let toks = lex(text)?;
    if toks.is_empty() {
        return Err(ParseError::new(0, "empty ACL definition")
            .help("write a criterion and its values, e.g. \"path_beg /static/\""));
    }
    criterion(&toks, text.len())
}

/// `toks` = criterion, flags, values; `end` is where a missing value would have been.
fn criterion(toks: &[Tok], end: usize) -> Result<Criterion, ParseError> {
    let Some((head, rest)) = toks.split_first() else {
        return Err(ParseError::new(end, "missing criterion"));
    };
    let kind = criterion_kind(head)?;
    let mut nocase = false;
    let mut values: &[Tok] = rest;
    while let Some((flag, after)) = values.split_first() {
        if flag.quoted || !flag.text.starts_with('-') {
            break;
        }
        values = after;
        match flag.text.as_str() {
            "--" => break,
            "-i" if matches!(kind, Kind::Src) => {
                return Err(ParseError::new(flag.offset, "`-i` does not apply to `src`"));
            }
            "-i" => nocase = true,
            other => {
                return Err(
                    ParseError::new(flag.offset, format!("unknown flag `{other}`"))
                        .help("ringlb knows `-i` (ignore case) and `--` (end of flags)"),
                )
            }
        }
    }
    if matches!(kind, Kind::Tls) {
        return match values.first() {
            None => Ok(Criterion::Tls),
            Some(v) => Err(ParseError::new(v.offset, "`ssl_fc` takes no value")
                .help("write { ssl_fc } alone; !{ ssl_fc } for plain connections")),
        };
    }
    if let Kind::Track(counter) = kind {
        return track_value(counter, head, values);
    }
    if values.is_empty() {
        let at = toks.last().map_or(end, |t| t.offset + t.text.len());
        return Err(
            ParseError::new(at, format!("`{}` needs at least one value", head.text))
                .help(value_example(&kind)),
        );
    }
    build(kind, nocase, values)
}

enum Kind {
    Path(StrMatch),
    PathReg,
    Host(StrMatch),
    Src,
    Method,
    Header(StrMatch, Vec<u8>),
    Tls,
    Sni(StrMatch),
    HelloSni,
    Track(crate::track::Counter),
}

fn criterion_kind(tok: &Tok) -> Result<Kind, ParseError> {
    let word = tok.text.as_str();
    let kind = match word {
        "path" => Kind::Path(StrMatch::Exact),
        "path_beg" => Kind::Path(StrMatch::Prefix),
        "path_end" => Kind::Path(StrMatch::Suffix),
        "path_reg" => Kind::PathReg,
        "host" => Kind::Host(StrMatch::Exact),
        "host_end" => Kind::Host(StrMatch::Suffix),
        "src" => Kind::Src,
        "method" => Kind::Method,
        "ssl_fc" => Kind::Tls,
        "ssl_fc_sni" => Kind::Sni(StrMatch::Exact),
        "ssl_fc_sni_end" => Kind::Sni(StrMatch::Suffix),
        "req.ssl_sni" | "req_ssl_sni" => Kind::HelloSni,
        _ => match word
            .strip_prefix("sc_")
            .and_then(crate::track::Counter::from_name)
        {
            Some(c) => Kind::Track(c),
            None => return header_kind(tok),
        },
    };
    if tok.quoted {
        return Err(ParseError::new(
            tok.offset,
            "the criterion must not be quoted",
        ));
    }
    Ok(kind)
}

fn header_kind(tok: &Tok) -> Result<Kind, ParseError> {
    let word = tok.text.as_str();
    let unknown = || {
        let help = match super::suggest(word, CRITERIA) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("expected one of: {}", CRITERIA.join(", ")),
        };
        ParseError::new(tok.offset, format!("unknown criterion `{word}`")).help(help)
    };
    let Some((fetch, rest)) = word.split_once('(') else {
        return Err(unknown());
    };
    let how = match fetch {
        "hdr" => StrMatch::Exact,
        "hdr_beg" => StrMatch::Prefix,
        "hdr_end" => StrMatch::Suffix,
        _ => return Err(unknown()),
    };
    let name = rest.strip_suffix(')').unwrap_or(rest);
    if tok.quoted || !rest.ends_with(')') || name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(
            ParseError::new(tok.offset, format!("invalid header criterion `{word}`")).help(
                format!("write {fetch}(NAME) with a header field name, e.g. {fetch}(X-Tenant)"),
            ),
        );
    }
    Ok(Kind::Header(how, name.to_ascii_lowercase().into_bytes()))
}

fn value_example(kind: &Kind) -> &'static str {
    match kind {
        Kind::Path(_) => "e.g. path_beg /static/ /images/",
        Kind::PathReg => "e.g. path_reg ^/api/v[0-9]+/",
        Kind::Host(_) => "e.g. host www.example.com example.com",
        Kind::Src => "e.g. src 10.0.0.0/8 192.168.0.0/16",
        Kind::Method => "e.g. method GET HEAD",
        Kind::Header(..) => "e.g. hdr(X-Tenant) blue",
        Kind::Tls => "ssl_fc takes no value",
        Kind::Sni(_) => "e.g. ssl_fc_sni www.example.com",
        Kind::HelloSni => "e.g. req.ssl_sni www.example.com",
        Kind::Track(_) => "e.g. sc_http_req_rate gt 100",
    }
}

/// RFC 9110 token characters (header names, methods).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn build(kind: Kind, nocase: bool, values: &[Tok]) -> Result<Criterion, ParseError> {
    let strings =
        |how: StrMatch, nocase: bool, check: &dyn Fn(&Tok) -> Result<Vec<u8>, ParseError>| {
            let values = values
                .iter()
                .map(|t| {
                    let v = check(t)?;
                    Ok(if nocase { v.to_ascii_lowercase() } else { v })
                })
                .collect::<Result<Vec<_>, ParseError>>()?;
            Ok::<_, ParseError>(Strings {
                how,
                nocase,
                values,
            })
        };
    Ok(match kind {
        Kind::Path(how) => Criterion::Path(strings(how, nocase, &|t| path_value(t, how))?),
        Kind::PathReg => Criterion::PathReg(
            values
                .iter()
                .map(|t| regex_value(t, nocase))
                .collect::<Result<_, _>>()?,
        ),
        Kind::Host(how) => Criterion::Host(strings(how, true, &host_value)?),
        Kind::Src => Criterion::Src(values.iter().map(cidr_value).collect::<Result<_, _>>()?),
        Kind::Method => Criterion::Method(strings(StrMatch::Exact, nocase, &method_value)?),
        Kind::Header(how, name) => Criterion::Header {
            name,
            test: strings(how, nocase, &|t| Ok(t.text.as_bytes().to_vec()))?,
        },
        Kind::Tls => Criterion::Tls,
        Kind::Sni(how) => Criterion::Sni(strings(how, true, &host_value)?),
        Kind::HelloSni => Criterion::HelloSni(strings(StrMatch::Exact, true, &host_value)?),
        // `criterion` reads counters' values itself.
        Kind::Track(c) => {
            let at = values.first().map_or(0, |t| t.offset);
            return Err(ParseError::new(
                at,
                format!("sc_{} takes a comparison", c.name()),
            ));
        }
    })
}

/// `[OP] NUMBER` after a counter: `gt 100`, `> 100`, `100` (equal).
fn track_value(
    counter: crate::track::Counter,
    head: &Tok,
    values: &[Tok],
) -> Result<Criterion, ParseError> {
    let help = "write a comparison and a number, e.g. { sc_http_req_rate gt 100 } \
                (gt, ge, lt, le, eq or >, >=, <, <=, ==)";
    let (cmp, num) = match values {
        [n] => (Cmp::Eq, n),
        [op, n] => match Cmp::parse(&op.text) {
            Some(c) if !op.quoted => (c, n),
            _ => {
                return Err(
                    ParseError::new(op.offset, format!("unknown comparison `{}`", op.text))
                        .help(help),
                )
            }
        },
        [] => {
            let at = head.offset + head.text.len();
            return Err(ParseError::new(
                at,
                format!("`{}` needs a comparison and a number", head.text),
            )
            .help(help));
        }
        [_, _, extra, ..] => {
            return Err(
                ParseError::new(extra.offset, format!("unexpected `{}`", extra.text)).help(help),
            )
        }
    };
    let value = num.text.parse::<u64>().map_err(|_| {
        ParseError::new(num.offset, format!("`{}` is not a whole number", num.text)).help(help)
    })?;
    Ok(Criterion::Track {
        counter,
        cmp,
        value,
    })
}

/// Path patterns are normalised like request paths, so `/%7Euser/` and `/~user/` are one
/// pattern. A suffix pattern only has its escapes normalised: it is not a whole path.
fn path_value(t: &Tok, how: StrMatch) -> Result<Vec<u8>, ParseError> {
    let raw = t.text.as_bytes();
    if strip_query(raw).len() != raw.len() {
        return Err(ParseError::new(
            t.offset,
            format!("path pattern \"{}\" contains `?`", t.text),
        )
        .help("path criteria never see the query string; match the path only"));
    }
    let normalised = match how {
        StrMatch::Suffix => normalize_escapes(raw),
        StrMatch::Exact | StrMatch::Prefix => normalize_path(raw).map(|p| p.into_owned()),
    };
    normalised.map_err(|e| {
        ParseError::new(
            t.offset,
            format!("invalid percent-escape in path pattern \"{}\"", t.text),
        )
        .help(format!(
            "`%` at character {} must be followed by two hex digits",
            e.offset + 1
        ))
    })
}

/// Hosts are compared without port and ignoring case, so a pattern with a port never matches.
fn host_value(t: &Tok) -> Result<Vec<u8>, ParseError> {
    let v = t.text.as_str();
    let bare_v6 = v.starts_with('[') && v.ends_with(']');
    if v.is_empty() || (v.contains(':') && !bare_v6) || v.contains('/') {
        return Err(
            ParseError::new(t.offset, format!("invalid host pattern \"{v}\"")).help(
                "write the host name without scheme, port or path, e.g. api.example.com; \
                 the request's port is ignored",
            ),
        );
    }
    Ok(v.as_bytes().to_vec())
}

fn method_value(t: &Tok) -> Result<Vec<u8>, ParseError> {
    if t.text.is_empty() || !t.text.bytes().all(is_tchar) {
        return Err(ParseError::new(
            t.offset,
            format!("invalid method \"{}\"", t.text),
        ));
    }
    Ok(t.text.as_bytes().to_vec())
}

fn cidr_value(t: &Tok) -> Result<Cidr, ParseError> {
    Cidr::parse(&t.text).ok_or_else(|| {
        ParseError::new(t.offset, format!("invalid address \"{}\"", t.text))
            .help("expected an IP address or a CIDR block: 10.0.0.0/8, 192.0.2.7, 2001:db8::/32")
    })
}

/// Limit on the compiled size of one `path_reg`: generous for real patterns, and it bounds
/// the memory a pasted monster can take in every worker.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

fn regex_value(t: &Tok, nocase: bool) -> Result<PathRegex, ParseError> {
    RegexBuilder::new(&t.text)
        .case_insensitive(nocase)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map(PathRegex)
        .map_err(|e| {
            let detail = e.to_string();
            let last = detail.lines().last().unwrap_or("").trim().to_owned();
            ParseError::new(
                t.offset,
                format!("invalid regular expression \"{}\"", t.text),
            )
            .help(last)
        })
}

// ---- conditions ------------------------------------------------------------------------------

/// Parses the text of a route's `if` / `unless`.
pub fn parse_condition(text: &str) -> Result<Condition, ParseError> {
    let toks = lex(text)?;
    let mut any_of = Vec::new();
    let mut group: Vec<Term> = Vec::new();
    let mut pending_and: Option<usize> = None;
    let mut i = 0;
    while let Some(tok) = toks.get(i) {
        if tok.is("||") || tok.is("or") {
            if group.is_empty() {
                return Err(ParseError::new(
                    tok.offset,
                    format!("`{}` has no condition on its left", tok.text),
                ));
            }
            if let Some(at) = pending_and {
                return Err(ParseError::new(at, "`&&` has no condition on its right"));
            }
            any_of.push(std::mem::take(&mut group));
            i += 1;
            continue;
        }
        if tok.is("&&") || tok.is("and") {
            if group.is_empty() || pending_and.is_some() {
                return Err(ParseError::new(
                    tok.offset,
                    format!("`{}` has no condition on its left", tok.text),
                ));
            }
            pending_and = Some(tok.offset);
            i += 1;
            continue;
        }
        let (term, next) = term(&toks, i, text.len())?;
        group.push(term);
        pending_and = None;
        i = next;
    }
    if let Some(at) = pending_and {
        return Err(ParseError::new(at, "`&&` has no condition on its right"));
    }
    if group.is_empty() {
        return Err(match toks.last() {
            Some(last) => ParseError::new(
                last.offset,
                format!("`{}` has no condition on its right", last.text),
            ),
            None => ParseError::new(0, "empty condition")
                .help("name an ACL or write an inline test such as { path_beg /api/ }"),
        });
    }
    any_of.push(group);
    Ok(Condition { any_of })
}

/// One term starting at `toks[i]`; returns it and the index after it.
fn term(toks: &[Tok], mut i: usize, end: usize) -> Result<(Term, usize), ParseError> {
    let mut negated = false;
    let Some(first) = toks.get(i) else {
        return Err(ParseError::new(end, "missing condition"));
    };
    let offset = first.offset;
    // `!` alone, or glued to the name / brace; repeated `!` cancel out.
    let mut word: &str = &first.text;
    let mut word_offset = first.offset;
    while !first.quoted && word.starts_with('!') {
        negated = !negated;
        word = word.get(1..).unwrap_or("");
        word_offset += 1;
        if word.is_empty() {
            i += 1;
            let Some(next) = toks.get(i) else {
                return Err(ParseError::new(first.offset, "`!` has nothing to negate"));
            };
            if next.quoted {
                return Err(quoted_term(next));
            }
            word = &next.text;
            word_offset = next.offset;
        }
    }
    if let Some(t) = toks.get(i).filter(|t| t.quoted) {
        return Err(quoted_term(t));
    }
    if word == "{" {
        let open = word_offset;
        let body_start = i + 1;
        let close = toks
            .iter()
            .skip(body_start)
            .position(|t| t.is("}"))
            .map(|p| p + body_start)
            .ok_or_else(|| {
                ParseError::new(open, "`{` is never closed").help("add ` }` after the values")
            })?;
        let body = toks.get(body_start..close).unwrap_or_default();
        if body.is_empty() {
            return Err(ParseError::new(open, "empty `{ }`")
                .help("write a criterion and its values inside, e.g. { path_beg /api/ }"));
        }
        let close_offset = toks.get(close).map_or(end, |t| t.offset);
        let c = criterion(body, close_offset)?;
        let t = Term {
            negated,
            test: Test::Inline(c),
            offset,
        };
        return Ok((t, close + 1));
    }
    if word == "}" {
        return Err(ParseError::new(word_offset, "`}` without a matching `{`"));
    }
    if word.contains('{') || word.contains('}') {
        return Err(
            ParseError::new(word_offset, format!("`{word}`: braces must stand alone"))
                .help("separate them with spaces: { path_beg /api/ }"),
        );
    }
    check_acl_name(word, word_offset)?;
    let t = Term {
        negated,
        test: Test::Acl(word.to_owned()),
        offset: word_offset,
    };
    Ok((t, i + 1))
}

fn quoted_term(t: &Tok) -> ParseError {
    ParseError::new(t.offset, format!("unexpected value \"{}\"", t.text))
        .help("a condition names ACLs; put criteria and their values inside { }")
}

/// ACL names follow the rules of other ringlb names; a criterion name here means the braces
/// were forgotten.
fn check_acl_name(word: &str, offset: usize) -> Result<(), ParseError> {
    let base = word.split('(').next().unwrap_or(word);
    if CRITERIA
        .iter()
        .any(|c| c.split('(').next() == Some(base) && (base == word || word.contains('(')))
    {
        return Err(
            ParseError::new(offset, format!("criterion `{word}` outside braces")).help(format!(
                "write it inline as {{ {word} VALUE… }}, or define an ACL in [frontend.NAME.acl]"
            )),
        );
    }
    if !is_acl_name(word) {
        return Err(
            ParseError::new(offset, format!("invalid ACL name `{word}`"))
                .help("ACL names use ASCII letters, digits, '-', '_' and '.'"),
        );
    }
    Ok(())
}

/// ACL names: the same character set as frontend and backend names.
pub fn is_acl_name(word: &str) -> bool {
    !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
#[path = "expr_tests.rs"]
mod tests;
