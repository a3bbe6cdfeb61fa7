//! A real redis-server on 127.0.0.1, started for one test and killed after it.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running redis-server.
pub(crate) struct RedisServer {
    child: Child,
    pub(crate) url: String,
}

impl RedisServer {
    /// Starts redis-server on a free port without persistence. Returns `None`
    /// only when `HELLO_SHIP_SKIP_REDIS=1` is set and the server is missing;
    /// otherwise a missing server fails the test with the fix.
    pub(crate) fn start() -> Option<Self> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !installed {
            if std::env::var("HELLO_SHIP_SKIP_REDIS").as_deref() == Ok("1") {
                return None;
            }
            panic!(
                "redis-server is not installed: run scripts/install-test-deps.sh, or set HELLO_SHIP_SKIP_REDIS=1 to skip Redis tests"
            );
        }
        let port = free_port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on port {port} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        })
    }

    /// Stops the server, as an outage would.
    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}
