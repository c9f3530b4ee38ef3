//! A realistic snapshot shared by the renderers' tests: two frontends, three backends, and
//! servers in every state.

use super::model::*;

pub(crate) fn responses(r2xx: u64, r4xx: u64, r5xx: u64) -> Responses {
    Responses {
        r1xx: 0,
        r2xx,
        r3xx: r2xx / 20,
        r4xx,
        r5xx,
        other: 0,
    }
}

fn l7(result: &str, ms: u64, failed: u64, downs: u64) -> Option<CheckInfo> {
    Some(CheckInfo {
        kind: "L7",
        last_result: result.to_string(),
        last_duration_ms: ms,
        checks_failed: failed,
        downs,
    })
}

pub(crate) fn server(name: &str, addr: &str, status: ServerStatus) -> ServerStats {
    ServerStats {
        name: name.to_string(),
        addr: addr.to_string(),
        status,
        check: l7("L7OK 200", 2, 0, 0),
        since_change_s: 7_380,
        downtime_s: 0,
        weight: 100,
        backup: false,
        cur: 12,
        max: 87,
        limit: 0,
        total: 1_482_113,
        queue_cur: 0,
        queue_max: 4,
        rate: 41,
        bytes_in: 312_000_000,
        bytes_out: 9_870_000_000,
        conn_errors: 0,
        resp_errors: 0,
        retries: 0,
        redispatches: 0,
        queue_full: 0,
        responses: responses(1_401_220, 51_002, 12),
    }
}

fn backend(name: &str, mode: Mode, balance: &str, servers: Vec<ServerStats>) -> BackendStats {
    let sum = |f: fn(&ServerStats) -> u64| servers.iter().map(f).sum::<u64>();
    let mut responses = Responses::default();
    for s in &servers {
        responses.r1xx += s.responses.r1xx;
        responses.r2xx += s.responses.r2xx;
        responses.r3xx += s.responses.r3xx;
        responses.r4xx += s.responses.r4xx;
        responses.r5xx += s.responses.r5xx;
        responses.other += s.responses.other;
    }
    let up = servers.iter().any(|s| s.status.takes_traffic());
    BackendStats {
        name: name.to_string(),
        mode,
        balance: balance.to_string(),
        up,
        cur: sum(|s| s.cur),
        max: sum(|s| s.max),
        total: sum(|s| s.total),
        queue_cur: 0,
        queue_max: 9,
        rate: sum(|s| s.rate),
        bytes_in: sum(|s| s.bytes_in),
        bytes_out: sum(|s| s.bytes_out),
        conn_errors: sum(|s| s.conn_errors) + 3,
        resp_errors: sum(|s| s.resp_errors),
        retries: sum(|s| s.retries),
        redispatches: sum(|s| s.redispatches),
        queue_full: sum(|s| s.queue_full),
        responses,
        since_change_s: if up { 250_000 } else { 42 },
        downtime_s: if up { 0 } else { 42 },
        servers,
    }
}

pub(crate) fn snapshot() -> StatsSnapshot {
    let web = vec![
        server("web1", "10.0.0.11:8080", ServerStatus::Up),
        ServerStats {
            check: l7("L7STS 503", 4, 17, 1),
            cur: 3,
            rate: 9,
            resp_errors: 14,
            ..server(
                "web2",
                "10.0.0.12:8080",
                ServerStatus::GoingDown { failed: 1, fall: 3 },
            )
        },
        ServerStats {
            cur: 1,
            rate: 0,
            since_change_s: 312,
            ..server("web3", "10.0.0.13:8080", ServerStatus::Drain)
        },
        ServerStats {
            check: l7("L4CON connection refused", 0, 212, 4),
            cur: 0,
            rate: 0,
            since_change_s: 754,
            downtime_s: 2_911,
            conn_errors: 37,
            retries: 22,
            redispatches: 9,
            ..server("web4", "10.0.0.14:8080", ServerStatus::Down)
        },
    ];
    let api = vec![
        ServerStats {
            weight: 50,
            limit: 200,
            queue_cur: 2,
            ..server("api-a", "[2001:db8::10]:9000", ServerStatus::Up)
        },
        ServerStats {
            check: None,
            cur: 0,
            rate: 0,
            since_change_s: 86_400 * 2 + 3600,
            ..server("api-b", "[2001:db8::11]:9000", ServerStatus::Maint)
        },
        ServerStats {
            check: l7("L7OK 200", 3, 9, 2),
            cur: 0,
            rate: 0,
            since_change_s: 12,
            downtime_s: 612,
            ..server(
                "api-c",
                "[2001:db8::12]:9000",
                ServerStatus::GoingUp { ok: 1, rise: 2 },
            )
        },
        ServerStats {
            backup: true,
            cur: 0,
            rate: 0,
            total: 0,
            bytes_in: 0,
            bytes_out: 0,
            responses: Responses::default(),
            ..server("api-spare", "10.0.1.99:9000", ServerStatus::Up)
        },
    ];
    let tcp = |r: Responses| ServerStats {
        check: None,
        responses: r,
        ..server("pg1", "10.0.2.1:5432", ServerStatus::NoCheck)
    };
    let pg = vec![
        tcp(Responses::default()),
        ServerStats {
            check: Some(CheckInfo {
                kind: "L4",
                last_result: "L4TOUT".to_string(),
                last_duration_ms: 2_000,
                checks_failed: 88,
                downs: 3,
            }),
            name: "pg2".to_string(),
            addr: "10.0.2.2:5432".to_string(),
            status: ServerStatus::Down,
            cur: 0,
            rate: 0,
            since_change_s: 42,
            downtime_s: 9_000,
            ..tcp(Responses::default())
        },
    ];
    StatsSnapshot {
        version: "0.1.0".to_string(),
        pid: 48_213,
        uptime_s: 3 * 86_400 + 4 * 3600 + 17 * 60,
        now_unix_s: 1_795_000_000,
        process: ProcessStats {
            conns: 1_210,
            maxconn: 65_000,
            workers: 8,
            reloads_ok: 14,
            reloads_failed: 1,
            log_lines: 98_311_020,
            log_dropped: 0,
            config_generation: 15,
        },
        frontends: vec![
            FrontendStats {
                name: "www".to_string(),
                mode: Mode::Http,
                cur_conns: 1_180,
                max_conns: 4_200,
                limit: 20_000,
                total_conns: 9_120_778,
                conn_rate: 310,
                requests: 48_221_977,
                req_rate: 1_873,
                bytes_in: 21_400_000_000,
                bytes_out: 812_000_000_000,
                req_errors: 1_127,
                responses: responses(46_000_000, 1_800_000, 2_011),
                tls: Some(TlsStats {
                    handshakes: 5_402_113,
                    resumed: 3_100_778,
                    failed: 2_014,
                    ktls: 5_399_870,
                    userspace: 229,
                    ktls_failed: 0,
                    certificates: vec![CertStats {
                        path: "/etc/ringlb/tls/www.pem".to_string(),
                        names: vec!["www.example.com".to_string(), "example.com".to_string()],
                        key: "ECDSA P-256".to_string(),
                        expires_in_s: 61 * 86_400,
                    }],
                }),
                proxy_protocol: Some(ProxyStats {
                    failed: 3,
                    refused: 0,
                }),
                h2: None,
            },
            FrontendStats {
                name: "postgres".to_string(),
                mode: Mode::Tcp,
                cur_conns: 30,
                max_conns: 64,
                limit: 0,
                total_conns: 18_222,
                conn_rate: 1,
                requests: 0,
                req_rate: 0,
                bytes_in: 4_100_000_000,
                bytes_out: 61_000_000_000,
                req_errors: 0,
                responses: Responses::default(),
                tls: None,
                proxy_protocol: None,
                h2: None,
            },
        ],
        backends: vec![
            backend("web", Mode::Http, "roundrobin", web),
            backend("api", Mode::Http, "leastconn", api),
            backend("pg", Mode::Tcp, "source", pg),
        ],
    }
}
