//! `ringlb ha check`: keepalived's track script. Healthy means the running ringlb answers
//! `status` with `OK` on its admin socket within [`CHECK_TIMEOUT`].

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use crate::admin::protocol;

/// Longest wait for an answer; keepalived's own deadline is one second longer.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The `[global] admin_socket` of the ringlb config at `config`.
///
/// Only that key is read, not the whole config: a config being edited (invalid for a moment)
/// or a DNS outage (loading resolves server names) must not move the addresses away from a
/// ringlb that is serving.
pub fn admin_socket(config: &Path) -> Result<PathBuf, String> {
    let text = std::fs::read_to_string(config)
        .map_err(|e| format!("cannot read {}: {e}", config.display()))?;
    admin_socket_in(&text).map_err(|e| format!("{}: {e}", config.display()))
}

/// [`admin_socket`] on the text of a config.
pub fn admin_socket_in(text: &str) -> Result<PathBuf, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("not TOML: {}", e.message()))?;
    let value = table
        .get("global")
        .and_then(|g| g.get("admin_socket"))
        .ok_or("no [global] admin_socket: the check has no way to reach ringlb")?;
    let path = value
        .as_str()
        .map(PathBuf::from)
        .ok_or("[global] admin_socket is not a string")?;
    if path.is_absolute() {
        Ok(path)
    } else {
        Err(format!(
            "[global] admin_socket {} is not an absolute path",
            path.display()
        ))
    }
}

/// Asks the ringlb behind `socket` for `status`; `Err` says why it is not healthy. Returns
/// within `timeout` even if the connect blocks (a full accept queue): the exchange runs on a
/// thread of its own, left behind if it overruns.
pub fn check(socket: &Path, timeout: Duration) -> Result<(), String> {
    let (tx, rx) = mpsc::channel();
    let path = socket.to_path_buf();
    std::thread::Builder::new()
        .name("ringlb-ha-check".into())
        .spawn(move || {
            let _ = tx.send(protocol::request_with_timeout(&path, "status", timeout));
        })
        .map_err(|e| format!("cannot start the check: {e}"))?;
    match rx.recv_timeout(timeout) {
        Ok(Ok((_, Ok(())))) => Ok(()),
        Ok(Ok((_, Err(e)))) => Err(format!("ringlb answered status with an error: {e}")),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => Err(format!(
            "ringlb did not answer status within {timeout:?} on {}",
            socket.display()
        )),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "ringlb did not answer status within {timeout:?} on {}",
            socket.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixListener;

    fn temp_socket(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ringlb-ha-check-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("admin.sock");
        let _ = std::fs::remove_file(&p);
        p
    }

    /// Serves one connection, answering with `answer`, after `delay`.
    fn serve_once(path: &Path, answer: &'static str, delay: Duration) {
        let l = UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            if let Ok((conn, _)) = l.accept() {
                let mut line = String::new();
                let _ = BufReader::new(&conn).read_line(&mut line);
                assert_eq!(line, "status\n");
                std::thread::sleep(delay);
                let _ = (&conn).write_all(answer.as_bytes());
            }
        });
    }

    #[test]
    fn admin_socket_read_from_global() {
        assert_eq!(
            admin_socket_in("[global]\nadmin_socket = \"/run/ringlb/admin.sock\"\n").unwrap(),
            PathBuf::from("/run/ringlb/admin.sock")
        );
        // The rest of the file does not matter, even if ringlb would reject it.
        assert!(admin_socket_in(
            "[global]\nadmin_socket = \"/a.sock\"\nworkers = \"many\"\n[frontend.x]\n"
        )
        .is_ok());
        assert!(admin_socket_in("[global]\nworkers = 1\n")
            .unwrap_err()
            .contains("no [global] admin_socket"));
        assert!(admin_socket_in("[global]\nadmin_socket = \"rel.sock\"\n")
            .unwrap_err()
            .contains("not an absolute path"));
        assert!(admin_socket_in("[global\n")
            .unwrap_err()
            .contains("not TOML"));
    }

    #[test]
    fn healthy_when_status_is_ok() {
        let p = temp_socket("ok");
        serve_once(&p, "pid 1\ngeneration 1\nOK\n", Duration::ZERO);
        assert_eq!(check(&p, CHECK_TIMEOUT), Ok(()));
    }

    #[test]
    fn unhealthy_on_error_answer() {
        let p = temp_socket("err");
        serve_once(&p, "ERROR ringlb is stopping\n", Duration::ZERO);
        let e = check(&p, CHECK_TIMEOUT).unwrap_err();
        assert!(e.contains("ringlb is stopping"), "{e}");
    }

    #[test]
    fn unhealthy_when_nobody_listens() {
        let p = temp_socket("none");
        let e = check(&p, CHECK_TIMEOUT).unwrap_err();
        assert!(e.contains("cannot reach ringlb"), "{e}");
    }

    #[test]
    fn unhealthy_when_the_answer_is_late() {
        let p = temp_socket("late");
        serve_once(&p, "OK\n", Duration::from_secs(3));
        let t = std::time::Instant::now();
        let e = check(&p, Duration::from_millis(300)).unwrap_err();
        assert!(e.contains("did not answer status within"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(2));
    }
}
