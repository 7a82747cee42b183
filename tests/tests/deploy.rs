//! The deployment files, for real: Debian's nginx runs `deploy/nginx/echoes.conf` (TLS with a
//! certificate made for the test, the app from `dist/`, `/ws` and `/healthz` proxied to a relay
//! with its simulator, `config.json` from outside `dist/`), and headless Chromium loads the app
//! through it and shows live, verified data from the relay the config names. Needs nginx
//! (`scripts/setup.sh` installs it) and `dist/`.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use echoes_tests::browser::Browser;
use echoes_tests::{dist, free_port, repo_root, TestRelay};
use relay::sim::SimConfig;
use relay::Config;

/// `text` with `from` replaced by `to`, which must be there: the test runs the shipped file,
/// so a change to it that this test does not know about fails here.
fn swap(text: String, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "deploy/nginx/echoes.conf no longer has {from:?}"
    );
    text.replace(from, to)
}

/// An nginx master process of our own, with its files in `dir`; stopped when dropped.
struct Nginx {
    child: Child,
    dir: PathBuf,
}

impl Nginx {
    /// The master's worker processes (children by their parent pid in /proc).
    fn workers(&self) -> Vec<u32> {
        let master = self.child.id();
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                // "pid (comm) state ppid …"; comm may hold spaces: read after its last ')'.
                let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
                after.split_whitespace().nth(1) == Some(master.to_string().as_str())
            })
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: nginx's fast shutdown, the master stops its workers, then itself. (SIGKILL
        // would leave the workers running, orphaned.)
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while self.child.try_wait().ok().flatten().is_none() {
            if start.elapsed() > Duration::from_secs(5) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts nginx on `site` (a server block) in `dir`, and waits until `port` accepts.
fn nginx(dir: &Path, site: &str, port: u16) -> Nginx {
    std::fs::write(dir.join("site.conf"), site).unwrap();
    let d = dir.display();
    let conf = format!(
        "daemon off;\nuser root;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{}}\n\
         http {{\n  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n  \
         access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
         include {d}/site.conf;\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    // Debian puts it in /usr/sbin, which a non-login PATH may lack.
    let program = if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    };
    let mut child = Command::new(program)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-p")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx (Debian's package; scripts/setup.sh installs it)");
    let start = Instant::now();
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            panic!("nginx exited ({exit}):\n{log}");
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "nginx did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Nginx {
        child,
        dir: dir.to_path_buf(),
    }
}

#[tokio::test]
async fn the_app_behind_nginx_shows_live_verified_data_from_the_configured_relay() {
    // The relay on loopback with its simulator, serving no app: nginx serves it.
    let relay = TestRelay::start(Config {
        demo: Some(SimConfig {
            sensors: 20,
            assets: 4,
            rate_hz: 5.0,
            ..SimConfig::default()
        }),
        ..Config::default()
    })
    .await;
    let dir = std::env::temp_dir().join(format!("echoes-nginx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let (port, plain) = (free_port(), free_port());
    // The site's config names the relay by another host name than the page's, so the header
    // shows which one the app took.
    let configured = format!("wss://localhost:{port}/ws");
    std::fs::write(
        dir.join("config.json"),
        format!("{{\"relay\": \"{configured}\"}}"),
    )
    .unwrap();

    let site = std::fs::read_to_string(repo_root().join("deploy/nginx/echoes.conf")).unwrap();
    let site = swap(
        site,
        "listen 443 ssl http2;",
        &format!("listen 127.0.0.1:{port} ssl http2;"),
    );
    let site = swap(site, "    listen [::]:443 ssl http2;\n", "");
    let site = swap(site, "listen 80;", &format!("listen 127.0.0.1:{plain};"));
    let site = swap(site, "    listen [::]:80;\n", "");
    let site = swap(
        site,
        "/etc/ssl/echoes/fullchain.pem",
        &dir.join("cert.pem").display().to_string(),
    );
    let site = swap(
        site,
        "/etc/ssl/echoes/privkey.pem",
        &dir.join("key.pem").display().to_string(),
    );
    let site = swap(
        site,
        "/usr/share/echoes/dist",
        &dist().display().to_string(),
    );
    let site = swap(
        site,
        "/etc/echoes/config.json",
        &dir.join("config.json").display().to_string(),
    );
    let site = swap(
        site,
        "http://127.0.0.1:8080",
        &format!("http://{}", relay.http),
    );
    let nginx = nginx(&dir, &site, port);

    let browser = Browser::start_with(&["--ignore-certificate-errors"])
        .await
        .unwrap();
    browser
        .client
        .goto(&format!("https://127.0.0.1:{port}/"))
        .await
        .unwrap();
    browser
        .wait_for(
            "the relay named by config.json, live",
            "return [document.querySelector('.relay').textContent,
                     document.querySelector('.conn').dataset.state]",
            |v| v[0] == configured.as_str() && v[1] == "live",
        )
        .await
        .unwrap();
    let count = "return Number(document.querySelector('.n-records').textContent)";
    browser
        .wait_for("records through the proxy", count, |v| {
            v.as_u64() >= Some(60)
        })
        .await
        .unwrap();
    browser.verified_seq().await.unwrap();
    browser
        .wait_for(
            "four asset tiles",
            "return document.querySelectorAll('.tile').length",
            |v| v == 4,
        )
        .await
        .unwrap();
    // Plain HTTP only redirects to HTTPS.
    let (status, location) = {
        use std::io::{Read, Write};
        let mut s = TcpStream::connect(("127.0.0.1", plain)).unwrap();
        write!(
            s,
            "GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out.split(' ').nth(1).unwrap_or_default().to_string();
        let location = out
            .lines()
            .find_map(|l| l.strip_prefix("Location: "))
            .unwrap_or_default()
            .to_string();
        (status, location)
    };
    assert_eq!(
        (status.as_str(), location.as_str()),
        ("301", "https://localhost/x")
    );
    browser.close().await.unwrap();
    // Stopping it stops all of it: no worker is left behind.
    let workers = nginx.workers();
    assert!(!workers.is_empty(), "nginx runs a worker");
    drop(nginx);
    for w in workers {
        let start = Instant::now();
        while Path::new(&format!("/proc/{w}")).exists() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "nginx worker {w} outlived its master"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    relay.stop().await;
}
