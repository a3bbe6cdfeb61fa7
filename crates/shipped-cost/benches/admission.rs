//! Admission cost per request: one budget reservation plus its settlement,
//! on each store. Redis runs as a local redis-server child process.

#![expect(
    clippy::unwrap_used,
    reason = "a benchmark stops at the first failed setup or store call"
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use shipped_core::Usage;
use shipped_cost::{CostControl, CostStore, LimitsConfig, MemoryStore, SqliteStore, TokenCount};

use common::{CENT_MODEL, RedisServer, cent_prices, redis_store, tenant};

fn reserve_and_settle(
    c: &mut Criterion,
    name: &str,
    runtime: &tokio::runtime::Runtime,
    store: Arc<dyn CostStore>,
) {
    let control = CostControl::new(store, cent_prices(), LimitsConfig::default());
    // A budget no benchmark run can spend.
    let acme = tenant("acme", 1_000_000.0);
    let input = TokenCount {
        tokens: 20,
        estimated: false,
    };
    let usage = Usage {
        input_tokens: 20,
        output_tokens: 8,
        ..Usage::default()
    };
    c.bench_function(name, |bencher| {
        bencher.to_async(runtime).iter(|| async {
            let mut reservation = control
                .reserve(&acme, &[CENT_MODEL], input, 64)
                .await
                .unwrap();
            reservation.mark_upstream_called();
            reservation.settle(CENT_MODEL, &usage).await.unwrap()
        });
    });
}

fn admission(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    reserve_and_settle(
        c,
        "reserve_settle/memory",
        &runtime,
        Arc::new(MemoryStore::new()),
    );

    let dir = tempfile::tempdir().unwrap();
    let sqlite = runtime
        .block_on(SqliteStore::open(dir.path().join("bench.db")))
        .unwrap();
    reserve_and_settle(c, "reserve_settle/sqlite", &runtime, Arc::new(sqlite));

    if let Some(server) = RedisServer::start() {
        let redis = runtime.block_on(async { redis_store(&server, "bench:") });
        reserve_and_settle(c, "reserve_settle/redis", &runtime, redis);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(5));
    targets = admission
}
criterion_main!(benches);
