//! `ringlb ha sync` against a real sshd on a loopback port (a generated host key and client
//! key) and a "peer" ringlb on this machine with its own config file: the config and its
//! certificate are pushed, checked and reloaded there, with the peer's own [ha] section kept;
//! a config the peer's `ringlb check` refuses is reported with the peer's diagnostics and
//! leaves the peer's files and traffic as they were.

// A test fails by panicking and drives real processes; the lints of Cargo.toml are for src/.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::indexing_slicing, clippy::disallowed_methods)]

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

const SSHD: &str = "/usr/sbin/sshd";

/// An sshd on 127.0.0.1 that lets the generated client key in as the current user.
struct Sshd {
    child: Child,
    port: u16,
    key: PathBuf,
    known_hosts: PathBuf,
}

impl Sshd {
    fn start(dir: &Path) -> Sshd {
        let keygen = |name: &str| {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.join(name))
                .output()
                .expect("run ssh-keygen");
            assert!(out.status.success(), "ssh-keygen: {out:?}");
        };
        keygen("host_key");
        keygen("client_key");
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
        // Privilege separation needs its directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let port = free_port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n",
                d = dir.display()
            ),
        )
        .unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
            .spawn()
            .expect("start sshd");
        assert!(
            wait_until(Duration::from_secs(10), || TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()),
            "sshd listens"
        );
        let host_pub = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
        let known_hosts = dir.join("known_hosts");
        std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_pub}")).unwrap();
        Sshd {
            child,
            port,
            key: dir.join("client_key"),
            known_hosts,
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The part both hosts share: a frontend on `port` to `server`, the admin socket `sock`.
fn shared(port: u16, sock: &Path, server: SocketAddr) -> String {
    format!(
        "[global]\nworkers = 1\nadmin_socket = \"{}\"\n\
         [frontend.www]\nbind = \"127.0.0.1:{port}\"\ndefault_backend = \"web\"\n\
         [backend.web]\n[[backend.web.server]]\nname = \"s\"\naddress = \"{server}\"\n",
        sock.display()
    )
}

/// Each host's own [ha] section.
fn ha(priority: u32, state: &str) -> String {
    format!(
        "[ha]\ninterface = \"lo\"\nvirtual_ips = [\"192.0.2.100/24\"]\nrouter_id = 51\n\
         priority = {priority}\nstate = \"{state}\"\n"
    )
}

fn sync(config: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringlb"))
        .args(["ha", "sync", "-c"])
        .arg(config)
        .output()
        .expect("run ringlb ha sync");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ha_sync_pushes_checks_and_reloads_the_peer_and_refuses_with_its_diagnostics() {
    if !Path::new(SSHD).exists() {
        println!("SKIPPED: {SSHD} is not installed (package openssh-server)");
        return;
    }
    let dir = unique_dir("ringlb-ha-sync");
    let sshd = Sshd::start(&dir);
    let web1 = Backend::start("web1");
    let web2 = Backend::start("web2");
    let (port, tls_port) = (free_port(), free_port());
    let sock = dir.join("peer-admin.sock");
    let www = SocketAddr::from(([127, 0, 0, 1], port));

    // The peer: serving web1, with its own [ha] (BACKUP, priority 100).
    let peer = Ringlb::start(&format!(
        "{}{}",
        shared(port, &sock, web1.addr()),
        ha(100, "BACKUP")
    ));
    let peer_config = peer.config_path().to_path_buf();
    assert_eq!(http_get(www, "/", &[]).backend(), Some("web1"));

    // This host: web2, a TLS listener with a certificate file, [ha] MASTER 150 and [ha.sync].
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "site.pem.key",
            "-out",
            "site.pem",
            "-days",
            "2",
            "-subj",
            "/CN=site.test",
        ],
    );
    let sync_section = format!(
        "[ha.sync]\npeer = \"{}@127.0.0.1\"\nport = {}\nidentity = \"{}\"\nknown_hosts = \"{}\"\n\
         config = \"{}\"\nbinary = \"{}\"\n",
        user(),
        sshd.port,
        sshd.key.display(),
        sshd.known_hosts.display(),
        peer_config.display(),
        env!("CARGO_BIN_EXE_ringlb")
    );
    let tls = format!(
        "[frontend.www.tls]\nbind = \"127.0.0.1:{tls_port}\"\ncertificates = [\"{}\"]\n",
        dir.join("site.pem").display()
    );
    let local = dir.join("local.toml");
    std::fs::write(
        &local,
        format!(
            "{}{}{sync_section}{tls}",
            shared(port, &sock, web2.addr()),
            ha(150, "MASTER")
        ),
    )
    .unwrap();

    let (ok, out, err) = sync(&local);
    assert!(
        ok,
        "sync succeeds:\n{out}\n{err}\nsshd: {}",
        std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
    );
    assert!(
        out.contains("ringlb check passed there and it reloaded"),
        "{out}"
    );
    assert!(
        out.contains("site.pem.key"),
        "the certificate's key is pushed: {out}"
    );
    assert!(
        wait_until(Duration::from_secs(5), || http_get(www, "/", &[]).backend()
            == Some("web2")),
        "the peer serves the pushed config"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", tls_port)).is_ok(),
        "the peer listens for TLS with the pushed certificate"
    );
    let installed = std::fs::read_to_string(&peer_config).unwrap();
    assert!(installed.contains(&web2.addr().to_string()), "{installed}");
    assert!(
        installed.contains("priority = 100") && installed.contains("BACKUP"),
        "the peer keeps its own [ha]: {installed}"
    );
    assert!(!installed.contains("[ha.sync]") && !installed.contains("priority = 150"));

    // The peer's own [ha] on disk is broken (edited, not yet reloaded): its check refuses the
    // pushed config; the peer's files are put back and it keeps serving web2.
    let broken = installed.replace("priority = 100", "priority = 300");
    std::fs::write(&peer_config, &broken).unwrap();
    std::fs::write(
        &local,
        format!(
            "{}{}{sync_section}{tls}",
            shared(port, &sock, web1.addr()),
            ha(150, "MASTER")
        ),
    )
    .unwrap();
    let (ok, out, err) = sync(&local);
    assert!(!ok, "sync refused:\n{out}\n{err}");
    assert!(
        err.contains("refused the config")
            && err.contains("`priority` must be between 1 and 254")
            && err.contains("does not pass ringlb check"),
        "the peer's diagnostics are shown: {err}"
    );
    assert_eq!(
        std::fs::read_to_string(&peer_config).unwrap(),
        broken,
        "files put back"
    );
    let seen: Vec<_> = (0..4)
        .map(|_| http_get(www, "/", &[]).backend().unwrap_or("").to_string())
        .collect();
    assert!(
        seen.iter().all(|s| s == "web2"),
        "the peer serves as before: {seen:?}"
    );

    // Unreachable: a clear error, exit 1.
    let wrong = std::fs::read_to_string(&local).unwrap().replace(
        &format!("port = {}", sshd.port),
        &format!("port = {}", free_port()),
    );
    std::fs::write(&local, wrong).unwrap();
    let (ok, _, err) = sync(&local);
    assert!(!ok && err.contains("ringlb ha sync: cannot read"), "{err}");
    drop(peer);
    let _ = std::fs::remove_dir_all(&dir);
}
