//! `;csv`: HAProxy's `show stat` CSV, so tools written for HAProxy (Zabbix templates,
//! `hatop`-style scripts, collectd plugins) read ringlb unchanged.
//!
//! Layout (HAProxy doc/management.txt, "9.1. CSV format"): a header line `# pxname,svname,…`,
//! then per frontend one `FRONTEND` row, and per backend one row per server followed by a
//! `BACKEND` row. Every line, header included, ends with a comma, as HAProxy's does. Fields
//! ringlb has no value for are empty, which HAProxy also does for fields that do not apply.
//! We emit the 80 fields up to `conn_tot`; their positions are fixed by HAProxy, so tools
//! that index columns by number keep working.

use super::model::{BackendStats, CheckInfo, FrontendStats, Mode, ServerStats, StatsSnapshot};

/// HAProxy's static field order, positions 0..=79.
pub const FIELDS: [&str; 80] = [
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
    "agent_status",
    "agent_code",
    "agent_duration",
    "check_desc",
    "agent_desc",
    "check_rise",
    "check_fall",
    "check_health",
    "agent_rise",
    "agent_fall",
    "agent_health",
    "addr",
    "cookie",
    "mode",
    "algo",
    "conn_rate",
    "conn_rate_max",
    "conn_tot",
];

/// HAProxy's `type` column.
const TYPE_FRONTEND: u8 = 0;
const TYPE_BACKEND: u8 = 1;
const TYPE_SERVER: u8 = 2;

/// The `pid` column: HAProxy's relative process number; ringlb is a single process.
const RELATIVE_PID: u8 = 1;

/// The whole CSV document.
pub fn render_csv(s: &StatsSnapshot) -> String {
    let mut out = String::with_capacity(512 * (1 + s.frontends.len() + s.backends.len() * 4));
    out.push_str("# ");
    for f in FIELDS {
        out.push_str(f);
        out.push(',');
    }
    out.push('\n');

    // Proxy ids follow HAProxy's numbering: one sequence over all proxies, in file order.
    let mut iid = 0u64;
    for fe in &s.frontends {
        iid += 1;
        frontend_row(fe, iid).write_to(&mut out);
    }
    for be in &s.backends {
        iid += 1;
        for (i, sv) in be.servers.iter().enumerate() {
            server_row(be, sv, iid, i as u64 + 1).write_to(&mut out);
        }
        backend_row(be, iid).write_to(&mut out);
    }
    out
}

/// One CSV line under construction: cells addressed by field name.
struct Row {
    cells: Vec<String>,
}

impl Row {
    fn new(pxname: &str, svname: &str, kind: u8, iid: u64, sid: u64) -> Row {
        let mut row = Row {
            cells: vec![String::new(); FIELDS.len()],
        };
        row.set("pxname", pxname);
        row.set("svname", svname);
        row.set("type", kind);
        row.set("pid", RELATIVE_PID);
        row.set("iid", iid);
        row.set("sid", sid);
        row
    }

    fn set(&mut self, field: &str, value: impl ToString) {
        let pos = FIELDS.iter().position(|f| *f == field);
        debug_assert!(pos.is_some(), "unknown CSV field {field}");
        if let Some(cell) = pos.and_then(|pos| self.cells.get_mut(pos)) {
            *cell = value.to_string();
        }
    }

    fn set_responses(&mut self, mode: Mode, r: &super::model::Responses) {
        // HAProxy leaves the hrsp_* cells empty on TCP proxies: there are no responses.
        if mode != Mode::Http {
            return;
        }
        self.set("hrsp_1xx", r.r1xx);
        self.set("hrsp_2xx", r.r2xx);
        self.set("hrsp_3xx", r.r3xx);
        self.set("hrsp_4xx", r.r4xx);
        self.set("hrsp_5xx", r.r5xx);
        self.set("hrsp_other", r.other);
    }

    fn write_to(&self, out: &mut String) {
        for cell in &self.cells {
            push_escaped(out, cell);
            out.push(',');
        }
        out.push('\n');
    }
}

fn frontend_row(fe: &FrontendStats, iid: u64) -> Row {
    let mut r = Row::new(&fe.name, "FRONTEND", TYPE_FRONTEND, iid, 0);
    r.set("scur", fe.cur_conns);
    r.set("smax", fe.max_conns);
    if fe.limit > 0 {
        r.set("slim", fe.limit);
    }
    r.set("stot", fe.total_conns);
    r.set("bin", fe.bytes_in);
    r.set("bout", fe.bytes_out);
    r.set("ereq", fe.req_errors);
    r.set("status", "OPEN");
    r.set("rate", fe.conn_rate);
    r.set_responses(fe.mode, &fe.responses);
    if fe.mode == Mode::Http {
        r.set("req_rate", fe.req_rate);
        r.set("req_tot", fe.requests);
    }
    r.set("mode", fe.mode.as_str());
    r.set("conn_rate", fe.conn_rate);
    r.set("conn_tot", fe.total_conns);
    r
}

fn server_row(be: &BackendStats, sv: &ServerStats, iid: u64, sid: u64) -> Row {
    let mut r = Row::new(&be.name, &sv.name, TYPE_SERVER, iid, sid);
    r.set("qcur", sv.queue_cur);
    r.set("qmax", sv.queue_max);
    r.set("scur", sv.cur);
    r.set("smax", sv.max);
    if sv.limit > 0 {
        r.set("slim", sv.limit);
    }
    r.set("stot", sv.total);
    r.set("bin", sv.bytes_in);
    r.set("bout", sv.bytes_out);
    r.set("econ", sv.conn_errors);
    r.set("eresp", sv.resp_errors);
    r.set("wretr", sv.retries);
    r.set("wredis", sv.redispatches);
    r.set("status", sv.status.haproxy_text());
    r.set("weight", sv.weight);
    r.set("act", u8::from(!sv.backup));
    r.set("bck", u8::from(sv.backup));
    r.set("lastchg", sv.since_change_s);
    r.set("lbtot", sv.total);
    r.set("rate", sv.rate);
    r.set_responses(be.mode, &sv.responses);
    if let Some(c) = &sv.check {
        set_check(&mut r, c);
        // HAProxy reports downtime only for checked servers: without a check it is unknown.
        r.set("downtime", sv.downtime_s);
    }
    r.set("addr", &sv.addr);
    r.set("mode", be.mode.as_str());
    r
}

fn set_check(r: &mut Row, c: &CheckInfo) {
    r.set("chkfail", c.checks_failed);
    r.set("chkdown", c.downs);
    r.set("check_status", c.status_code());
    if let Some(code) = c.code() {
        r.set("check_code", code);
    }
    r.set("check_duration", c.last_duration_ms);
    r.set("last_chk", c.detail());
    r.set("check_desc", check_desc(c.status_code()));
}

fn backend_row(be: &BackendStats, iid: u64) -> Row {
    let mut r = Row::new(&be.name, "BACKEND", TYPE_BACKEND, iid, 0);
    r.set("qcur", be.queue_cur);
    r.set("qmax", be.queue_max);
    r.set("scur", be.cur);
    r.set("smax", be.max);
    r.set("stot", be.total);
    r.set("bin", be.bytes_in);
    r.set("bout", be.bytes_out);
    r.set("econ", be.conn_errors);
    r.set("eresp", be.resp_errors);
    r.set("wretr", be.retries);
    r.set("wredis", be.redispatches);
    r.set("status", be.status_text());
    r.set("weight", be.effective_weight());
    r.set("act", be.active_up());
    r.set("bck", be.backup_up());
    r.set("lastchg", be.since_change_s);
    r.set("downtime", be.downtime_s);
    r.set("lbtot", be.total);
    r.set("rate", be.rate);
    r.set_responses(be.mode, &be.responses);
    r.set("mode", be.mode.as_str());
    r.set("algo", &be.balance);
    r
}

/// HAProxy's short description of a check status word.
fn check_desc(status: &str) -> &'static str {
    match status {
        "UNK" => "Unknown",
        "INI" => "Initializing",
        "SOCKERR" => "Socket error",
        "L4OK" => "Layer4 check passed",
        "L4TOUT" => "Layer4 timeout",
        "L4CON" => "Layer4 connection problem",
        "L6OK" => "Layer6 check passed",
        "L6TOUT" => "Layer6 timeout",
        "L6RSP" => "Layer6 invalid response",
        "L7OK" => "Layer7 check passed",
        "L7OKC" => "Layer7 check conditionally passed",
        "L7TOUT" => "Layer7 timeout",
        "L7RSP" => "Layer7 invalid response",
        "L7STS" => "Layer7 wrong status",
        _ => "",
    }
}

/// RFC 4180 quoting, only when needed (as HAProxy does): a cell with a comma, quote or line
/// break is wrapped in quotes and its quotes doubled.
fn push_escaped(out: &mut String, cell: &str) {
    if cell.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&cell.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(cell);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::sample;

    /// Splits one CSV line into cells, honouring quotes (the reader a monitoring tool uses).
    fn parse_line(line: &str) -> Vec<String> {
        let mut cells = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    chars.next();
                    cur.push('"');
                }
                ('"', _) => quoted = !quoted,
                (',', false) => cells.push(std::mem::take(&mut cur)),
                (c, _) => cur.push(c),
            }
        }
        assert!(!quoted, "unterminated quote in {line:?}");
        assert!(cur.is_empty(), "line must end with a comma: {line:?}");
        cells
    }

    fn rows(csv: &str) -> Vec<Vec<String>> {
        csv.lines().skip(1).map(parse_line).collect()
    }

    fn col(name: &str) -> usize {
        FIELDS.iter().position(|f| *f == name).unwrap()
    }

    #[test]
    fn header_has_haproxy_field_order() {
        let csv = render_csv(&sample::snapshot());
        let header = csv.lines().next().unwrap();
        assert!(header.starts_with(
            "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,\
             wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,\
             sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,\
             check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,\
             req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,"
        ));
        // Spot-check later positions against the documented numbers.
        assert_eq!(col("last_chk"), 56);
        assert_eq!(col("check_desc"), 65);
        assert_eq!(col("addr"), 73);
        assert_eq!(col("mode"), 75);
        assert_eq!(col("algo"), 76);
        assert_eq!(col("conn_tot"), 79);
        assert!(header.ends_with("conn_tot,"));
    }

    #[test]
    fn one_row_per_frontend_server_and_backend() {
        let s = sample::snapshot();
        let rows = rows(&render_csv(&s));
        let servers: usize = s.backends.iter().map(|b| b.servers.len()).sum();
        assert_eq!(rows.len(), s.frontends.len() + servers + s.backends.len());
        for row in &rows {
            assert_eq!(row.len(), FIELDS.len(), "{row:?}");
        }
        let names: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|r| (r[0].as_str(), r[1].as_str(), r[col("type")].as_str()))
            .collect();
        assert_eq!(names[0], ("www", "FRONTEND", "0"));
        assert_eq!(names[1], ("postgres", "FRONTEND", "0"));
        assert_eq!(names[2], ("web", "web1", "2"));
        assert_eq!(names[6], ("web", "BACKEND", "1"));
        assert_eq!(names.last().copied(), Some(("pg", "BACKEND", "1")));
    }

    #[test]
    fn values_land_in_their_columns() {
        let rows = rows(&render_csv(&sample::snapshot()));
        let www = &rows[0];
        assert_eq!(www[col("scur")], "1180");
        assert_eq!(www[col("slim")], "20000");
        assert_eq!(www[col("status")], "OPEN");
        assert_eq!(www[col("req_tot")], "48221977");
        assert_eq!(www[col("hrsp_5xx")], "2011");
        assert_eq!(www[col("qcur")], "", "frontends have no queue");
        // TCP frontend: no HTTP response counters, no limit.
        assert_eq!(rows[1][col("hrsp_2xx")], "");
        assert_eq!(rows[1][col("slim")], "");

        let web2 = &rows[3];
        assert_eq!(web2[col("status")], "UP 1/3");
        assert_eq!(web2[col("check_status")], "L7STS");
        assert_eq!(web2[col("check_code")], "503");
        assert_eq!(web2[col("chkfail")], "17");
        assert_eq!(web2[col("sid")], "2");
        let web4 = &rows[5];
        assert_eq!(web4[col("status")], "DOWN");
        assert_eq!(web4[col("last_chk")], "connection refused");
        assert_eq!(web4[col("check_code")], "");

        let web_backend = &rows[6];
        assert_eq!(web_backend[col("status")], "UP");
        assert_eq!(
            web_backend[col("act")],
            "2",
            "web1 and web2 (going down) take traffic"
        );
        assert_eq!(web_backend[col("weight")], "200");
        assert_eq!(web_backend[col("algo")], "roundrobin");
        assert_eq!(web_backend[col("iid")], web2[col("iid")]);
        let pg1 = &rows[rows.len() - 3];
        assert_eq!(pg1[col("status")], "no check");
        assert_eq!(
            pg1[col("downtime")],
            "",
            "unchecked servers have no known downtime"
        );
    }

    #[test]
    fn names_with_commas_and_quotes_are_quoted() {
        let mut s = sample::snapshot();
        s.backends[0].servers[0].name = "web,\"one\"".to_string();
        let csv = render_csv(&s);
        assert!(csv.contains("web,\"web,\"\"one\"\"\","));
        let rows = rows(&csv);
        assert_eq!(rows[2][1], "web,\"one\"");
        assert_eq!(rows[2].len(), FIELDS.len());
    }
}
