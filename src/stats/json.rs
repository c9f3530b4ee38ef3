//! `;json`: the snapshot as one JSON document, field names as in [`super::model`].
//!
//! Server status is an object tagged by `state` (`{"state":"GOING_DOWN","failed":1,"fall":3}`);
//! the document also carries, per server, the HAProxy status text and whether it takes
//! traffic, and per backend the derived `act`/`bck`/`weight`, so a consumer needs no rules of
//! its own to read it.

use serde::Serialize;

use super::model::{BackendStats, ServerStats, StatsSnapshot};

/// The whole JSON document (compact, one line).
pub fn render_json(s: &StatsSnapshot) -> String {
    let doc = Document {
        version: &s.version,
        pid: s.pid,
        uptime_s: s.uptime_s,
        now_unix_s: s.now_unix_s,
        process: &s.process,
        frontends: &s.frontends,
        backends: s.backends.iter().map(Backend::new).collect(),
    };
    // Serializing plain structs of strings and integers cannot fail; an empty object keeps
    // the page answering even if a future field type could.
    serde_json::to_string(&doc).unwrap_or_else(|_| "{}".to_string())
}

#[derive(Serialize)]
struct Document<'a> {
    version: &'a str,
    pid: u32,
    uptime_s: u64,
    now_unix_s: u64,
    process: &'a super::model::ProcessStats,
    frontends: &'a [super::model::FrontendStats],
    backends: Vec<Backend<'a>>,
}

#[derive(Serialize)]
struct Backend<'a> {
    #[serde(flatten)]
    stats: BackendFields<'a>,
    /// Active servers taking traffic.
    act: usize,
    /// Backup servers taking traffic.
    bck: usize,
    /// Sum of the weights of the servers taking traffic.
    weight: u64,
    servers: Vec<Server<'a>>,
}

/// The backend's own fields, without `servers` (re-emitted with derived fields).
#[derive(Serialize)]
struct BackendFields<'a> {
    name: &'a str,
    mode: super::model::Mode,
    balance: &'a str,
    up: bool,
    cur: u64,
    max: u64,
    total: u64,
    queue_cur: u64,
    queue_max: u64,
    rate: u64,
    bytes_in: u64,
    bytes_out: u64,
    conn_errors: u64,
    resp_errors: u64,
    retries: u64,
    redispatches: u64,
    responses: super::model::Responses,
    since_change_s: u64,
    downtime_s: u64,
}

#[derive(Serialize)]
struct Server<'a> {
    #[serde(flatten)]
    stats: &'a ServerStats,
    /// HAProxy's status text (`UP 1/3`, `no check`).
    status_text: String,
    takes_traffic: bool,
}

impl<'a> Backend<'a> {
    fn new(b: &'a BackendStats) -> Backend<'a> {
        Backend {
            stats: BackendFields {
                name: &b.name,
                mode: b.mode,
                balance: &b.balance,
                up: b.up,
                cur: b.cur,
                max: b.max,
                total: b.total,
                queue_cur: b.queue_cur,
                queue_max: b.queue_max,
                rate: b.rate,
                bytes_in: b.bytes_in,
                bytes_out: b.bytes_out,
                conn_errors: b.conn_errors,
                resp_errors: b.resp_errors,
                retries: b.retries,
                redispatches: b.redispatches,
                responses: b.responses,
                since_change_s: b.since_change_s,
                downtime_s: b.downtime_s,
            },
            act: b.active_up(),
            bck: b.backup_up(),
            weight: b.effective_weight(),
            servers: b
                .servers
                .iter()
                .map(|s| Server {
                    stats: s,
                    status_text: s.status.haproxy_text(),
                    takes_traffic: s.status.takes_traffic(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::sample;
    use serde_json::Value;

    #[test]
    fn document_parses_and_mirrors_the_model() {
        let s = sample::snapshot();
        let v: Value = serde_json::from_str(&render_json(&s)).unwrap();
        assert_eq!(v["version"], "0.1.0");
        assert_eq!(v["pid"], 48_213);
        assert_eq!(v["process"]["maxconn"], 65_000);
        assert_eq!(v["frontends"][0]["name"], "www");
        assert_eq!(v["frontends"][0]["mode"], "http");
        assert_eq!(v["frontends"][0]["responses"]["r5xx"], 2_011);
        assert_eq!(v["frontends"][1]["mode"], "tcp");
        let web = &v["backends"][0];
        assert_eq!(web["name"], "web");
        assert_eq!(web["act"], 2);
        assert_eq!(web["weight"], 200);
        assert_eq!(web["servers"].as_array().unwrap().len(), 4);
        assert_eq!(web["servers"][0]["status"]["state"], "UP");
        let web2 = &web["servers"][1];
        assert_eq!(web2["status"]["state"], "GOING_DOWN");
        assert_eq!(web2["status"]["failed"], 1);
        assert_eq!(web2["status"]["fall"], 3);
        assert_eq!(web2["status_text"], "UP 1/3");
        assert_eq!(web2["check"]["last_result"], "L7STS 503");
        assert_eq!(web["servers"][2]["takes_traffic"], false);
        assert_eq!(v["backends"][1]["servers"][1]["check"], Value::Null);
    }

    #[test]
    fn strings_are_escaped() {
        let mut s = sample::snapshot();
        s.backends[0].servers[0].name = "a\"b\\c\n</script>".to_string();
        let text = render_json(&s);
        assert!(!text.contains('\n'));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["backends"][0]["servers"][0]["name"], "a\"b\\c\n</script>");
    }
}
