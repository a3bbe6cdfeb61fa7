//! Helpers shared by the integration tests: a real redis-server on an
//! ephemeral port, and a price table with round numbers.

#![allow(dead_code, reason = "each test binary uses a different part")]
#![allow(
    clippy::unwrap_used,
    reason = "test setup stops at the first failure, like the tests themselves"
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shipped_core::Usage;
use shipped_cost::{
    CostStore, LedgerEntry, ModelPrice, Nanodollars, PriceTable, SettleRequest, Tenant, UtcDay,
};

/// A model whose 64 output tokens cost exactly one cent and whose input is free.
pub(crate) const CENT_MODEL: &str = "cent-per-64";

/// Prices with [`CENT_MODEL`]: $0 input, $156.25 per million output tokens.
pub(crate) fn cent_prices() -> PriceTable {
    let mut prices = PriceTable::new("test");
    prices.insert(CENT_MODEL, ModelPrice::per_million(0.0, 156.25).unwrap());
    prices
}

pub(crate) fn tenant(id: &str, budget_usd: f64) -> Tenant {
    Tenant {
        id: id.to_owned(),
        daily_budget: Nanodollars::from_usd(budget_usd),
        max_output_tokens: None,
        rate: None,
        rate_per_user: None,
    }
}

/// Records earlier spending of the day straight in the store.
pub(crate) async fn seed_spend(store: &dyn CostStore, tenant: &str, day: UtcDay, usd: f64) {
    store
        .settle(SettleRequest {
            tenant: tenant.to_owned(),
            day,
            reservation: None,
            entry: LedgerEntry {
                at_micros: day.start_micros(),
                request_id: None,
                user: None,
                model: CENT_MODEL.to_owned(),
                usage: Usage::default(),
                cost: Nanodollars::from_usd(usd).unwrap(),
                priced: true,
                prices_version: "test".to_owned(),
            },
        })
        .await
        .unwrap();
}

/// A redis-server child process on 127.0.0.1, killed when dropped.
pub(crate) struct RedisServer {
    child: Option<Child>,
    pub(crate) port: u16,
}

impl RedisServer {
    /// Starts a server, or returns `None` when `HELLO_SHIP_SKIP_REDIS=1`.
    ///
    /// Panics when redis-server is not installed and skipping was not asked for,
    /// so a missing server fails the run instead of passing it silently.
    pub(crate) fn start() -> Option<Self> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !installed {
            if std::env::var("HELLO_SHIP_SKIP_REDIS").as_deref() == Ok("1") {
                return None;
            }
            panic!(
                "redis-server is not on PATH: install it (apt-get install -y redis-server) \
                 or set HELLO_SHIP_SKIP_REDIS=1 to skip the Redis tests"
            );
        }
        // redis-server has no `--port 0`: take a free port from the kernel, then release it.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Some(Self::start_on(port))
    }

    /// Starts a server on the given port of 127.0.0.1.
    pub(crate) fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("failed to start redis-server");
        let server = Self {
            child: Some(child),
            port,
        };
        server.wait_until_ready();
        server
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "redis-server on port {} did not answer PING within 10 s",
            self.port
        );
    }

    fn ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        if stream.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
    }

    /// Kills the server now, as an outage would.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Redis stores for the tests, each with its own key prefix so tests sharing
/// a server would not collide.
pub(crate) fn redis_store(server: &RedisServer, prefix: &str) -> Arc<dyn CostStore> {
    Arc::new(shipped_cost::RedisStore::connect(&server.url(), prefix).unwrap())
}
