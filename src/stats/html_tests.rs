use super::*;
use crate::stats::sample;

fn opts() -> HtmlOptions {
    HtmlOptions {
        uri: "/stats".to_string(),
        refresh_s: Some(5),
        admin: false,
        realm: "ringlb".to_string(),
    }
}

#[test]
fn page_has_header_links_and_one_table_per_proxy() {
    let s = sample::snapshot();
    let html = render_html(&s, &opts());
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
    assert!(html.contains("href=\"/stats;csv\""));
    assert!(html.contains("href=\"/stats;json\""));
    assert!(html.contains("href=\"/stats;metrics\""));
    assert!(html.contains("href=\"/stats;norefresh\""));
    assert!(html.contains("pid <b>48213</b>"));
    assert!(html.contains("up <b>3d4h</b>"));
    assert_eq!(
        html.matches("<table>").count(),
        s.frontends.len() + s.backends.len()
    );
    assert_eq!(html.matches("<b>Backend</b>").count(), s.backends.len());
    assert_eq!(html.matches("<b>Frontend</b>").count(), s.frontends.len());
    assert!(html.ends_with("</html>\n"));
    // No action buttons without admin.
    assert!(!html.contains("<form"));
}

#[test]
fn rows_are_coloured_and_status_says_for_how_long() {
    let html = render_html(&sample::snapshot(), &opts());
    for class in [
        "s-UP",
        "s-DOWN",
        "s-MAINT",
        "s-DRAIN",
        "s-GOING_DOWN",
        "s-GOING_UP",
        "s-NOCHECK",
    ] {
        assert!(html.contains(&format!("<tr class=\"{class}")), "{class}");
    }
    // web1 has been UP for 7380 s, web4 DOWN for 754 s.
    assert!(html.contains("<span class=\"pill p-UP\">UP</span> <span class=\"for\">2h3m</span>"));
    assert!(
        html.contains("<span class=\"pill p-DOWN\">DOWN</span> <span class=\"for\">12m34s</span>")
    );
    assert!(html.contains("↓ 1/3"));
    assert!(html.contains("↑ 1/2"));
    assert!(html.contains("9.9 GB"), "human-friendly byte counts");
    assert!(html.contains("1,482,113"), "thousands separators");
    assert!(html.contains("L4CON</span> connection refused"));
}

#[test]
fn names_are_escaped() {
    let mut s = sample::snapshot();
    s.backends[0].servers[0].name = "<script>alert('x')</script>".to_string();
    s.backends[0].name = "be\"><img src=x onerror=alert(1)>".to_string();
    s.frontends[0].name = "fe&co".to_string();
    s.backends[0].servers[1].check = Some(CheckInfo {
        kind: "L7",
        last_result: "L7RSP <b>bad</b>".to_string(),
        last_duration_ms: 1,
        checks_failed: 1,
        downs: 0,
    });
    let o = HtmlOptions {
        admin: true,
        uri: "/st\"ats".to_string(),
        realm: "<realm>".to_string(),
        ..opts()
    };
    let html = render_html(&s, &o);
    assert!(!html.contains("<script>"));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(!html.contains("<img"));
    assert!(html.contains("be&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("fe&amp;co"));
    assert!(!html.contains("<b>bad</b>"));
    assert!(!html.contains("<realm>"));
    assert!(html.contains("action=\"/st&quot;ats;admin\""));
}

#[test]
fn admin_buttons_post_backend_server_action() {
    let s = sample::snapshot();
    let o = HtmlOptions {
        admin: true,
        ..opts()
    };
    let html = render_html(&s, &o);
    let servers: usize = s.backends.iter().map(|b| b.servers.len()).sum();
    assert_eq!(
        html.matches("<form method=\"post\" action=\"/stats;admin\">")
            .count(),
        servers
    );
    assert!(html.contains(
        "<input type=\"hidden\" name=\"backend\" value=\"web\">\
         <input type=\"hidden\" name=\"server\" value=\"web3\">"
    ));
    for action in ["ready", "drain", "maint"] {
        assert!(html.contains(&format!("name=\"action\" value=\"{action}\"")));
    }
    // The button of the current state is disabled: web3 drains, api-b is in maintenance.
    let disabled = |server: &str| -> Vec<String> {
        let form = &html[html.find(&format!("value=\"{server}\">")).unwrap()..];
        let form = &form[..form.find("</form>").unwrap()];
        form.split("<button")
            .filter(|b| b.contains(" disabled>"))
            .map(|b| b.split('"').nth(3).unwrap().to_string())
            .collect()
    };
    assert_eq!(disabled("web3"), ["drain"]);
    assert_eq!(disabled("api-b"), ["maint"]);
    assert_eq!(disabled("web1"), ["ready"]);
}

#[test]
fn no_refresh_and_empty_snapshot() {
    let mut s = sample::snapshot();
    s.frontends.clear();
    s.backends.clear();
    let o = HtmlOptions {
        refresh_s: None,
        ..opts()
    };
    let html = render_html(&s, &o);
    assert!(!html.contains("http-equiv=\"refresh\""));
    assert!(!html.contains("<table>"));
    assert!(html.contains("</html>"));
}

/// Writes `target/stats-preview.html` from the sample snapshot, to look at in a browser:
/// `cargo test --lib stats::html::tests::preview -- --ignored`.
#[test]
#[ignore]
fn preview() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&dir).unwrap();
    let mut s = sample::snapshot();
    s.process.log_dropped = 311;
    let o = HtmlOptions {
        admin: true,
        ..opts()
    };
    std::fs::write(dir.join("stats-preview.html"), render_html(&s, &o)).unwrap();
}
