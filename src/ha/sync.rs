//! `ringlb ha sync`: pushes this host's config and the files it names (certificates and keys,
//! CA files, error pages, `return` bodies) to the peer of `[ha.sync]` with the system's `ssh`
//! and `scp`, then on the peer installs them (keeping the previous ones), runs `ringlb check`
//! and reloads. If the check or the reload fails there, the previous files are put back and
//! the peer's diagnostics are shown; the peer keeps serving what it served.
//!
//! The two hosts of a pair differ only in their `[ha]` section (priority, state, unicast
//! addresses): the config pushed is this one with its `[ha]` section (and subsections) replaced
//! by the one in the peer's current config file. Files go to the same absolute paths on the
//! peer as here.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::config::{Config, HaSync};
use crate::rules::{Action, Body};

/// The script the peer runs: `sh -s STAGE CONFIG RINGLB`. STAGE holds `ringlb.toml` and
/// `files/` (the files under their absolute paths). Every file replaced is first copied to
/// STAGE/old; on a failed check or reload they are put back.
const PEER_SCRIPT: &str = r#"set -u
stage=$1; config=$2; ringlb=$3
new=$stage/new; old=$stage/old; list=$stage/installed
mkdir -p "$old" && : > "$list" || { echo "ringlb ha sync: cannot use $stage" >&2; exit 1; }
restore() {
    while read -r how dst; do
        case $how in
            had) cp -p "$old$dst" "$dst.ringlb-sync" && mv -f "$dst.ringlb-sync" "$dst" ;;
            new) rm -f "$dst" ;;
        esac
    done < "$list"
}
fail() { echo "ringlb ha sync: $1" >&2; restore; rm -rf "$stage"; exit 1; }
install_one() {
    dst=$2
    if [ -e "$dst" ]; then
        mkdir -p "$old$(dirname "$dst")" && cp -p "$dst" "$old$dst" || return 1
        echo "had $dst" >> "$list"
    else
        echo "new $dst" >> "$list"
    fi
    mkdir -p "$(dirname "$dst")" && cp -p "$1" "$dst.ringlb-sync" && mv -f "$dst.ringlb-sync" "$dst"
}
if [ -d "$new/files" ]; then
    (cd "$new/files" && find . -type f) > "$stage/files.list" || fail "cannot list $new/files"
    while read -r f; do
        dst=${f#.}
        install_one "$new/files$dst" "$dst" || fail "cannot install $dst"
    done < "$stage/files.list"
fi
install_one "$new/ringlb.toml" "$config" || fail "cannot install $config"
host=$(hostname 2>/dev/null || echo peer)
if ! out=$("$ringlb" check -c "$config" 2>&1); then
    printf '%s\n' "$out" >&2
    fail "the config does not pass ringlb check on $host; its previous files are back"
fi
if ! out=$("$ringlb" reload -c "$config" 2>&1); then
    printf '%s\n' "$out" >&2
    fail "ringlb reload failed on $host; its previous files are back and its previous config keeps serving"
fi
printf '%s\n' "$out"
rm -rf "$stage"
"#;

/// The lines of the `[ha]` section and its subsections in a TOML text: from its header to the
/// next header of another table. `None` if there is none.
pub fn ha_section(text: &str) -> Option<Range<usize>> {
    let mut start = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if let Some(name) = header(line) {
            let ours = name == "ha" || name.starts_with("ha.");
            match (start, ours) {
                (None, true) => start = Some(offset),
                (Some(s), false) => return Some(s..offset),
                _ => {}
            }
        }
        offset += line.len();
    }
    start.map(|s| s..text.len())
}

/// The table name of a header line (`[name]`, `[[name]]`, spaces and a comment allowed).
fn header(line: &str) -> Option<String> {
    let l = line.trim();
    let l = match l.find('#') {
        Some(i) if l.get(..i).is_some_and(|b| b.contains(']')) => l.get(..i)?.trim_end(),
        _ => l,
    };
    let inner = l.strip_prefix('[')?.strip_suffix(']')?;
    let inner = inner
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .unwrap_or(inner);
    let name: String = inner
        .split('.')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(".");
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '"'));
    ok.then_some(name)
}

/// This config's text with its `[ha]` section replaced by the one of the peer's config.
pub fn for_peer(local: &str, peer: &str) -> Result<String, String> {
    let theirs = ha_section(peer).and_then(|r| peer.get(r)).ok_or(
        "the peer's config has no [ha] section (set the pair up once by hand: docs/ha.md)",
    )?;
    let mut out = String::with_capacity(local.len() + theirs.len());
    match ha_section(local) {
        Some(r) => {
            out.push_str(local.get(..r.start).unwrap_or(""));
            out.push_str(theirs);
            if !theirs.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(local.get(r.end..).unwrap_or(""));
        }
        None => {
            out.push_str(local);
            if !local.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(theirs);
        }
    }
    Ok(out)
}

/// Every file `cfg` names: certificates and keys (a directory's PEM files), CA files, error
/// pages and `return` bodies. Directories are listed; a certificate's implicit `PATH.key` is
/// included where it exists.
pub fn files_of(cfg: &Config) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut add = |p: &Path| {
        if p.is_dir() {
            if let Ok(rd) = std::fs::read_dir(p) {
                let mut inside: Vec<PathBuf> = rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file())
                    .collect();
                inside.sort();
                out.extend(inside);
            }
        } else {
            out.push(p.to_path_buf());
            let key = PathBuf::from(format!("{}.key", p.display()));
            if key.is_file() {
                out.push(key);
            }
        }
    };
    let rules = |r: &[crate::config::RuleDef]| -> Vec<PathBuf> {
        r.iter()
            .filter_map(|d| match &d.rule.action {
                Action::Return {
                    body: Body::File(p),
                    ..
                } => Some(p.clone()),
                _ => None,
            })
            .collect()
    };
    for f in &cfg.frontends {
        if let Some(t) = &f.tls {
            for c in &t.certificates {
                add(&c.path);
                if let Some(k) = &c.key {
                    add(k);
                }
            }
        }
        for e in &f.errorfiles {
            add(&e.path);
        }
        for p in rules(&f.request_rules)
            .into_iter()
            .chain(rules(&f.response_rules))
        {
            add(&p);
        }
    }
    for b in &cfg.backends {
        for e in &b.errorfiles {
            add(&e.path);
        }
        for p in rules(&b.request_rules)
            .into_iter()
            .chain(rules(&b.response_rules))
        {
            add(&p);
        }
        for s in &b.servers {
            if let Some(t) = &s.tls {
                for p in [&t.ca_file, &t.cert, &t.key].into_iter().flatten() {
                    add(p);
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `'text'` for a POSIX shell.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Options common to `ssh` and `scp`: key only, no prompts, the pinned host key if given.
fn common_options(s: &HaSync) -> Vec<String> {
    let mut o = vec![
        "-i".to_string(),
        s.identity.display().to_string(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        "IdentitiesOnly=yes".into(),
        "-o".into(),
        "ConnectTimeout=10".into(),
        "-o".into(),
        "StrictHostKeyChecking=yes".into(),
        "-o".into(),
        "LogLevel=ERROR".into(),
    ];
    if let Some(k) = &s.known_hosts {
        o.push("-o".into());
        o.push(format!("UserKnownHostsFile={}", k.display()));
    }
    o
}

/// Runs `ssh PEER COMMAND` (with `stdin` if given).
fn ssh(s: &HaSync, command: &str, stdin: Option<&str>) -> Result<Output, String> {
    let mut cmd = Command::new("ssh");
    cmd.args(common_options(s))
        .arg("-p")
        .arg(s.port.to_string())
        .arg("--")
        .arg(&s.peer)
        .arg(command)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run ssh: {e} (is openssh-client installed?)"))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(text.as_bytes())
            .map_err(|e| format!("ssh: {e}"))?;
    }
    child.wait_with_output().map_err(|e| format!("ssh: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim_end().to_string()
}

/// What a sync did.
#[derive(Debug)]
pub struct Synced {
    /// The peer's output of `ringlb reload`.
    pub reload: String,
    pub files: Vec<PathBuf>,
}

/// Pushes `cfg` (read from `path`, whose text is `local`) to the peer; `Err` carries the
/// reason, with the peer's own diagnostics when it refused.
pub fn sync(path: &Path, local: &str, cfg: &Config) -> Result<Synced, String> {
    let s = cfg
        .ha
        .as_ref()
        .and_then(|h| h.sync.as_ref())
        .ok_or("no [ha.sync] section: nothing says where the peer is (see docs/ha.md)")?;
    let remote_config = s
        .config
        .clone()
        .unwrap_or_else(|| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()));
    let peer_conf = ssh(
        s,
        &format!("cat -- {}", quote(&remote_config.display().to_string())),
        None,
    )?;
    if !peer_conf.status.success() {
        return Err(format!(
            "cannot read {} on {}: {}",
            remote_config.display(),
            s.peer,
            text(&peer_conf.stderr)
        ));
    }
    let merged = for_peer(local, &String::from_utf8_lossy(&peer_conf.stdout))?;
    let files = files_of(cfg);

    // Stage locally: new/ringlb.toml and new/files/ABSOLUTE/PATH.
    let here = std::env::temp_dir().join(format!("ringlb-sync-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&here);
    let staged = stage(&here, &merged, &files);
    let result = staged.and_then(|()| push(s, &here, &remote_config, &files));
    let _ = std::fs::remove_dir_all(&here);
    result
}

fn stage(here: &Path, merged: &str, files: &[PathBuf]) -> Result<(), String> {
    let new = here.join("new");
    std::fs::create_dir_all(&new).map_err(|e| format!("{}: {e}", new.display()))?;
    std::fs::write(new.join("ringlb.toml"), merged).map_err(|e| format!("staging: {e}"))?;
    for f in files {
        let rel = f.strip_prefix("/").unwrap_or(f);
        let dst = new.join("files").join(rel);
        if let Some(d) = dst.parent() {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        std::fs::copy(f, &dst).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
    }
    Ok(())
}

fn push(
    s: &HaSync,
    here: &Path,
    remote_config: &Path,
    files: &[PathBuf],
) -> Result<Synced, String> {
    let made = ssh(s, "mktemp -d", None)?;
    let remote_stage = text(&made.stdout);
    if !made.status.success() || !remote_stage.starts_with('/') {
        return Err(format!(
            "cannot make a staging directory on {}: {}",
            s.peer,
            text(&made.stderr)
        ));
    }
    let host = if s.peer.contains(':') && !s.peer.contains('[') {
        // An IPv6 literal: scp wants it in brackets.
        match s.peer.rsplit_once('@') {
            Some((u, h)) => format!("{u}@[{h}]"),
            None => format!("[{}]", s.peer),
        }
    } else {
        s.peer.clone()
    };
    let copied = Command::new("scp")
        .args(common_options(s))
        .arg("-P")
        .arg(s.port.to_string())
        .args(["-p", "-q", "-r", "--"])
        .arg(here.join("new"))
        .arg(format!("{host}:{remote_stage}/"))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run scp: {e}"))?;
    if !copied.status.success() {
        let _ = ssh(s, &format!("rm -rf -- {}", quote(&remote_stage)), None);
        return Err(format!(
            "cannot copy the files to {}: {}",
            s.peer,
            text(&copied.stderr)
        ));
    }
    let run = ssh(
        s,
        &format!(
            "sh -s -- {} {} {}",
            quote(&remote_stage),
            quote(&remote_config.display().to_string()),
            quote(&s.binary.display().to_string())
        ),
        Some(PEER_SCRIPT),
    )?;
    if !run.status.success() {
        let why = [text(&run.stdout), text(&run.stderr)]
            .into_iter()
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        return Err(format!("{} refused the config:\n{why}", s.peer));
    }
    Ok(Synced {
        reload: text(&run.stdout),
        files: files.to_vec(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const LOCAL: &str = "[global]\nworkers = 2\n\n[ha]\ninterface = \"eth0\"\npriority = 150\n\
        [ha.sync]\npeer = \"root@b\"\n\n[frontend.www]\nbind = \"0.0.0.0:80\"\n";
    const PEER: &str =
        "[global]\nworkers = 1\n[ha] # the peer's\ninterface = \"ens3\"\npriority = 100\n";

    #[test]
    fn the_peer_keeps_its_own_ha_section() {
        let out = for_peer(LOCAL, PEER).unwrap();
        assert_eq!(
            out,
            "[global]\nworkers = 2\n\n[ha] # the peer's\ninterface = \"ens3\"\npriority = 100\n\
             [frontend.www]\nbind = \"0.0.0.0:80\"\n"
        );
        assert!(for_peer(LOCAL, "[global]\n")
            .unwrap_err()
            .contains("no [ha]"));
        let appended = for_peer("[global]\nworkers = 2", PEER).unwrap();
        assert!(appended.ends_with("[ha] # the peer's\ninterface = \"ens3\"\npriority = 100\n"));
    }

    #[test]
    fn headers_are_recognised_with_spaces_comments_and_arrays() {
        assert_eq!(header(" [ ha . sync ] # x\n").as_deref(), Some("ha.sync"));
        assert_eq!(
            header("[[backend.web.server]]\n").as_deref(),
            Some("backend.web.server")
        );
        assert_eq!(header("peers = [\"a\"]\n"), None);
        assert_eq!(header("  \"192.0.2.1\",\n"), None);
        assert_eq!(ha_section("[hat]\nx = 1\n"), None);
    }

    #[test]
    fn quoting_survives_quotes() {
        assert_eq!(quote("/a b/c'd"), r"'/a b/c'\''d'");
    }
}
