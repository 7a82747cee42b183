//! Starting `echoes-relay serve` as a process on ports the OS picks, and learning its addresses
//! from the line it prints once it listens ([`crate::ready_line`]): the one launcher of the
//! process tests, the end-to-end tests and the benchmarks.

use std::ffi::OsStr;
use std::io::{self, BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

/// A relay process and the addresses it printed; killed when dropped.
pub struct Launched {
    pub child: Child,
    /// HTTP and WebSocket address, `host:port`.
    pub http: String,
    /// Feed address, `host:port`.
    pub ingest: String,
}

impl Drop for Launched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `program` (the relay binary, or an emulator running it) with `serve` on loopback port 0
/// for both listeners, no app to serve, and `args` after those; waits for its ready line.
/// Logs only warnings unless `RUST_LOG` says otherwise.
pub fn serve<S: AsRef<OsStr>>(mut program: Command, args: &[S]) -> io::Result<Launched> {
    program
        .args(["serve", "--http", "127.0.0.1:0", "--ingest", "127.0.0.1:0"])
        .args(["--dist", "/nonexistent"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if std::env::var_os("RUST_LOG").is_none() {
        program.env("RUST_LOG", "warn");
    }
    let mut child = program.spawn()?;
    match read_ready(child.stdout.take().expect("piped")) {
        Ok((http, ingest)) => Ok(Launched {
            child,
            http,
            ingest,
        }),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

/// Reads a relay's ready line from its standard output; returns its (HTTP, feed) addresses.
pub fn read_ready(stdout: impl Read) -> io::Result<(String, String)> {
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    crate::parse_ready_line(&line).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not a relay's ready line: {line:?}"),
        )
    })
}
