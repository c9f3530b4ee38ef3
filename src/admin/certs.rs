//! `show certs`: one line per certificate a TLS frontend serves, then one per ACME frontend
//! saying what it serves, when it renews, and why the last attempt failed.

use crate::stats::StatsSnapshot;

/// The lines of `show certs`.
pub(super) fn lines(model: &StatsSnapshot) -> Vec<String> {
    let mut out = vec!["# frontend path names key expires_in_s".to_owned()];
    for f in &model.frontends {
        let Some(t) = &f.tls else { continue };
        for c in &t.certificates {
            out.push(format!(
                "{} {} {} {} {}",
                f.name,
                c.path,
                c.names.join(","),
                c.key.replace(' ', "_"),
                c.expires_in_s
            ));
        }
    }
    out.push(
        "# acme frontend names challenge serving expires_in_s renew_in_s failures next_attempt_in_s last_error"
            .to_owned(),
    );
    for f in &model.frontends {
        let Some(a) = f.tls.as_ref().and_then(|t| t.acme.as_ref()) else {
            continue;
        };
        let secs = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |s| s.to_string());
        out.push(format!(
            "acme {} {} {} {} {} {} {} {} {}",
            f.name,
            a.names.join(","),
            a.challenge,
            if a.placeholder {
                "placeholder"
            } else {
                "issued"
            },
            secs(a.expires_in_s),
            secs(a.renew_in_s),
            a.failures,
            secs(a.next_attempt_in_s),
            a.last_error.as_deref().unwrap_or("-"),
        ));
    }
    out
}
