//! Evaluation: a [`Router`] compiled from a frontend's ACLs and routes picks the target of a
//! request described by a [`RequestView`].
//!
//! The request is seen through borrowed slices, so the proxy evaluates straight from its head
//! buffer. The path is normalised lazily, at most once per request, and only if a path
//! criterion is reached; headers are looked up only when a `hdr*` criterion is reached.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::fmt;
use std::net::IpAddr;

use crate::http::{trim_ows, FieldSection};

use super::expr::{Acl, Condition, Criterion, Guard, StrMatch, Strings, Test};
use super::normalize::{normalize_path, InvalidPath};
use crate::track::Sample;

/// Header fields of a request, as the proxy has them.
pub trait Headers {
    /// Calls `f` with the value (surrounding whitespace removed) of each field whose name
    /// equals `name` ignoring ASCII case (`name` is lowercase), in order, until `f` returns
    /// true. Returns whether it did.
    fn any_value(&self, name: &[u8], f: &mut dyn FnMut(&[u8]) -> bool) -> bool;
}

/// Fields as (name, value) pairs, e.g. collected from `httparse::Header`s.
#[derive(Debug, Clone, Copy)]
pub struct Pairs<'a>(pub &'a [(&'a [u8], &'a [u8])]);

impl Headers for Pairs<'_> {
    fn any_value(&self, name: &[u8], f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.0
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .any(|(_, v)| f(trim_ows(v)))
    }
}

/// A request head's field section, read with the HTTP room's one field scanner. This is how
/// an HTTP/1.1 session passes its headers.
impl Headers for FieldSection<'_> {
    fn any_value(&self, name: &[u8], f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.values(name).any(f)
    }
}

/// A request without header fields (TCP-level tests, unit tests).
#[derive(Debug, Clone, Copy)]
pub struct NoHeaders;

impl Headers for NoHeaders {
    fn any_value(&self, _: &[u8], _: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        false
    }
}

/// What routing sees of a request.
#[derive(Clone, Copy)]
pub struct RequestView<'a> {
    pub method: &'a [u8],
    /// The raw request target, query included. The caller reduces an absolute-form target
    /// (`http://host/path`) to its path first.
    pub path: &'a [u8],
    /// The Host header (or the authority of an absolute-form target), port included or not.
    pub host: Option<&'a [u8]>,
    pub src: IpAddr,
    pub headers: &'a dyn Headers,
    /// Over TLS: the server name the client sent (empty when it sent none); `None` for a
    /// plain connection.
    pub sni: Option<&'a [u8]>,
    /// The server name of a ClientHello read without terminating TLS (tcp mode); `None` when
    /// none was read.
    pub hello_sni: Option<&'a [u8]>,
}

impl fmt::Debug for RequestView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestView")
            .field("method", &String::from_utf8_lossy(self.method))
            .field("path", &String::from_utf8_lossy(self.path))
            .field("host", &self.host.map(String::from_utf8_lossy))
            .field("src", &self.src)
            .finish_non_exhaustive()
    }
}

/// A condition names an ACL the frontend does not define. The config loader reports this
/// with a position; a `Router` built from a validated config never returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAcl(pub String);

impl fmt::Display for UnknownAcl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown ACL \"{}\"", self.0)
    }
}

impl std::error::Error for UnknownAcl {}

/// The compiled routes of one frontend, in order; the first whose guard holds wins.
#[derive(Debug, Clone)]
pub struct Router<T> {
    /// Criteria of each ACL, indexed by the terms that name it.
    acls: Vec<Vec<Criterion>>,
    rules: Vec<(Compiled, T)>,
}

#[derive(Debug, Clone)]
enum Compiled {
    Always,
    If(Vec<Vec<CTerm>>),
    Unless(Vec<Vec<CTerm>>),
}

#[derive(Debug, Clone)]
struct CTerm {
    negated: bool,
    test: CTest,
}

#[derive(Debug, Clone)]
enum CTest {
    Acl(usize),
    Inline(Criterion),
}

impl<T> Router<T> {
    /// Compiles `rules` (guard, target) against the frontend's `acls`. An ACL name defined
    /// twice keeps every definition (they are ORed).
    pub fn new<'g>(
        acls: &[Acl],
        rules: impl IntoIterator<Item = (&'g Guard, T)>,
    ) -> Result<Self, UnknownAcl> {
        let mut names: Vec<&str> = Vec::new();
        let mut compiled_acls: Vec<Vec<Criterion>> = Vec::new();
        for acl in acls {
            match names.iter().position(|n| *n == acl.name) {
                Some(i) => {
                    if let Some(c) = compiled_acls.get_mut(i) {
                        c.extend(acl.criteria.iter().cloned());
                    }
                }
                None => {
                    names.push(&acl.name);
                    compiled_acls.push(acl.criteria.clone());
                }
            }
        }
        let compile = |c: &Condition| -> Result<Vec<Vec<CTerm>>, UnknownAcl> {
            c.any_of
                .iter()
                .map(|group| {
                    group
                        .iter()
                        .map(|t| {
                            let test = match &t.test {
                                Test::Acl(name) => CTest::Acl(
                                    names
                                        .iter()
                                        .position(|n| n == name)
                                        .ok_or_else(|| UnknownAcl(name.clone()))?,
                                ),
                                Test::Inline(c) => CTest::Inline(c.clone()),
                            };
                            Ok(CTerm {
                                negated: t.negated,
                                test,
                            })
                        })
                        .collect()
                })
                .collect()
        };
        let mut out = Vec::new();
        for (guard, target) in rules {
            let g = match guard {
                Guard::Always => Compiled::Always,
                Guard::If(c) => Compiled::If(compile(c)?),
                Guard::Unless(c) => Compiled::Unless(compile(c)?),
            };
            out.push((g, target));
        }
        Ok(Router {
            acls: compiled_acls,
            rules: out,
        })
    }

    /// No route: every request goes to the default backend.
    /// Whether any ACL or inline criterion satisfies `pred` (e.g. one that needs the
    /// ClientHello read before a backend can be chosen).
    pub fn tests(&self, pred: impl Fn(&Criterion) -> bool) -> bool {
        let inline = |terms: &Vec<Vec<CTerm>>| {
            terms
                .iter()
                .flatten()
                .any(|t| matches!(&t.test, CTest::Inline(c) if pred(c)))
        };
        self.acls.iter().flatten().any(&pred)
            || self.rules.iter().any(|(c, _)| match c {
                Compiled::Always => false,
                Compiled::If(t) | Compiled::Unless(t) => inline(t),
            })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether the guard of rule `i` tests a criterion satisfying `pred`, inline or through
    /// an ACL it names.
    pub fn rule_tests(&self, i: usize, pred: impl Fn(&Criterion) -> bool) -> bool {
        let Some((guard, _)) = self.rules.get(i) else {
            return false;
        };
        let terms = match guard {
            Compiled::Always => return false,
            Compiled::If(t) | Compiled::Unless(t) => t,
        };
        terms.iter().flatten().any(|t| match &t.test {
            CTest::Inline(c) => pred(c),
            CTest::Acl(a) => self.acls.get(*a).is_some_and(|cs| cs.iter().any(&pred)),
        })
    }

    /// A router without ACLs or routes.
    pub fn empty() -> Self {
        Router {
            acls: Vec::new(),
            rules: Vec::new(),
        }
    }

    /// Calls `f` with the target of every route whose guard holds, in order, until `f`
    /// returns false (header rules: every rule applies, not only the first). The path is
    /// normalised at most once for all of them.
    pub fn each_match(
        &self,
        req: &RequestView<'_>,
        f: impl FnMut(&T) -> bool,
    ) -> Result<(), InvalidPath> {
        self.each_match_tracked(req, None, f)
    }

    /// [`Router::each_match`] for a client whose tracking counters are `track` (`sc_*`
    /// criteria are false without them).
    pub fn each_match_tracked(
        &self,
        req: &RequestView<'_>,
        track: Option<&Sample>,
        mut f: impl FnMut(&T) -> bool,
    ) -> Result<(), InvalidPath> {
        let eval = Eval {
            req,
            track,
            acls: &self.acls,
            path: OnceCell::new(),
        };
        for (guard, target) in &self.rules {
            let hit = match guard {
                Compiled::Always => true,
                Compiled::If(c) => eval.condition(c)?,
                Compiled::Unless(c) => !eval.condition(c)?,
            };
            if hit && !f(target) {
                break;
            }
        }
        Ok(())
    }

    /// The target of the first route whose guard holds, or `None` for the default backend.
    ///
    /// `Err` when a path criterion had to be evaluated and the path has a malformed
    /// percent-escape: the proxy answers 400 instead of routing a path that the server might
    /// read differently (see [`super::normalize`]).
    pub fn select(&self, req: &RequestView<'_>) -> Result<Option<&T>, InvalidPath> {
        let eval = Eval {
            req,
            track: None,
            acls: &self.acls,
            path: OnceCell::new(),
        };
        for (guard, target) in &self.rules {
            let hit = match guard {
                Compiled::Always => true,
                Compiled::If(c) => eval.condition(c)?,
                Compiled::Unless(c) => !eval.condition(c)?,
            };
            if hit {
                return Ok(Some(target));
            }
        }
        Ok(None)
    }
}

/// Per-request evaluation state.
struct Eval<'r, 'a> {
    req: &'r RequestView<'a>,
    /// The client's counters in the frontend's tracking table, when it is tracked.
    track: Option<&'r Sample>,
    acls: &'r [Vec<Criterion>],
    /// The normalised path, computed on first use.
    path: OnceCell<Result<Cow<'a, [u8]>, InvalidPath>>,
}

impl Eval<'_, '_> {
    fn path(&self) -> Result<&[u8], InvalidPath> {
        match self.path.get_or_init(|| normalize_path(self.req.path)) {
            Ok(p) => Ok(p),
            Err(e) => Err(*e),
        }
    }

    /// OR of AND-groups; both short-circuit, left to right.
    fn condition(&self, any_of: &[Vec<CTerm>]) -> Result<bool, InvalidPath> {
        for group in any_of {
            let mut all = true;
            for t in group {
                let v = match &t.test {
                    CTest::Acl(i) => self.acl(*i)?,
                    CTest::Inline(c) => self.criterion(c)?,
                };
                if v == t.negated {
                    all = false;
                    break;
                }
            }
            if all {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn acl(&self, i: usize) -> Result<bool, InvalidPath> {
        for c in self.acls.get(i).map_or(&[][..], Vec::as_slice) {
            if self.criterion(c)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn criterion(&self, c: &Criterion) -> Result<bool, InvalidPath> {
        let req = self.req;
        Ok(match c {
            Criterion::Path(s) => s.matches(self.path()?),
            Criterion::PathReg(res) => {
                let p = self.path()?;
                res.iter().any(|r| r.0.is_match(p))
            }
            Criterion::Host(s) => req
                .host
                .map(host_without_port)
                .is_some_and(|h| s.matches(h)),
            Criterion::Src(nets) => nets.iter().any(|n| n.contains(req.src)),
            Criterion::Method(s) => s.matches(req.method),
            Criterion::Header { name, test } => {
                req.headers.any_value(name, &mut |v| test.matches(v))
            }
            Criterion::Tls => req.sni.is_some(),
            Criterion::Sni(s) => req.sni.is_some_and(|n| s.matches(n)),
            Criterion::HelloSni(s) => req.hello_sni.is_some_and(|n| s.matches(n)),
            Criterion::Track {
                counter,
                cmp,
                value,
            } => self
                .track
                .is_some_and(|t| cmp.holds(t.get(*counter), *value)),
        })
    }
}

impl Strings {
    /// True if `hay` matches any value.
    pub fn matches(&self, hay: &[u8]) -> bool {
        self.values.iter().any(|v| {
            let part = match self.how {
                StrMatch::Exact => Some(hay),
                StrMatch::Prefix => hay.get(..v.len()),
                StrMatch::Suffix => hay.len().checked_sub(v.len()).and_then(|s| hay.get(s..)),
            };
            part.is_some_and(|p| {
                if self.nocase {
                    p.eq_ignore_ascii_case(v)
                } else {
                    p == v.as_slice()
                }
            })
        })
    }
}

/// `example.com:8080` → `example.com`; `[2001:db8::1]:443` → `[2001:db8::1]`.
fn host_without_port(host: &[u8]) -> &[u8] {
    let port_colon = match host.iter().rposition(|&b| b == b']') {
        Some(close) => host
            .get(close + 1..)
            .and_then(|rest| rest.first())
            .filter(|&&b| b == b':')
            .map(|_| close + 1),
        None => host.iter().position(|&b| b == b':'),
    };
    match port_colon {
        Some(c) => host.get(..c).unwrap_or(host),
        None => host,
    }
}

#[cfg(test)]
#[path = "matcher_tests.rs"]
mod tests;
