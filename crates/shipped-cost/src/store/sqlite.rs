//! A durable store in one SQLite file, for a single replica.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::local_rate::LocalRates;
use super::{
    BudgetState, CostStore, RateDecision, ReservationId, ReserveOutcome, ReserveRequest,
    SettleRequest, StoreError, StoreFuture,
};
use crate::{Nanodollars, RateCheck, TenantDay, UtcDay};

/// How long a write waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS budget_days (
    tenant        TEXT    NOT NULL,
    day           TEXT    NOT NULL,
    spent_nanos   INTEGER NOT NULL DEFAULT 0,
    requests      INTEGER NOT NULL DEFAULT 0,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reservations (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant            TEXT    NOT NULL,
    day               TEXT    NOT NULL,
    amount_nanos      INTEGER NOT NULL,
    expires_at_micros INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS reservations_by_day ON reservations (tenant, day);
CREATE TABLE IF NOT EXISTS usage_ledger (
    id                  INTEGER PRIMARY KEY,
    at_micros           INTEGER NOT NULL,
    tenant              TEXT    NOT NULL,
    day                 TEXT    NOT NULL,
    request_id          TEXT,
    user_id             TEXT,
    model               TEXT    NOT NULL,
    input_tokens        INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    estimated           INTEGER NOT NULL,
    cost_nanos          INTEGER NOT NULL,
    priced              INTEGER NOT NULL,
    prices_version      TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_ledger_by_day ON usage_ledger (day, tenant);
";

/// A [`CostStore`] in an SQLite file, so spending survives a restart.
///
/// The file contains the per-day budget counters, the open reservations and one
/// ledger row per settled call. It runs in WAL mode with `synchronous=NORMAL`:
/// a commit survives a crash of the process, and the last commits before a
/// power loss may be lost. A reservation is one `BEGIN IMMEDIATE` transaction
/// that checks `spent + reserved + amount <= budget`, so processes sharing the
/// file cannot overspend either. Rate limits live in process memory.
///
/// SQLite work runs on tokio's blocking pool.
///
/// ```
/// use shipped_cost::{CostStore, SqliteStore};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let store = SqliteStore::open(dir.path().join("ledger.db")).await.unwrap();
/// store.health().await.unwrap();
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
    rates: Arc<LocalRates>,
}

fn backend(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::backend(error)
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl SqliteStore {
    /// Opens or creates the file and its tables.
    ///
    /// # Errors
    ///
    /// Returns a [`StoreError`] when the file cannot be opened or created, or
    /// WAL mode or the schema cannot be set up.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        let connection = tokio::task::spawn_blocking(move || -> Result<Connection, StoreError> {
            let connection = Connection::open(&path).map_err(backend)?;
            connection.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
            let mode: String = connection
                .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
                .map_err(backend)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::backend(format!(
                    "failed to enable WAL mode on {}: the journal mode is {mode}",
                    path.display()
                )));
            }
            connection
                .execute_batch("PRAGMA synchronous=NORMAL;")
                .map_err(backend)?;
            connection.execute_batch(SCHEMA).map_err(backend)?;
            Ok(connection)
        })
        .await
        .map_err(backend)??;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
            rates: Arc::new(LocalRates::default()),
        })
    }

    /// Runs `work` with the connection on the blocking pool.
    async fn with_connection<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            let mut connection = connection
                .lock()
                .map_err(|_| StoreError::backend("SQLite connection lock poisoned"))?;
            work(&mut connection).map_err(backend)
        })
        .await
        .map_err(backend)?
    }
}

fn reserve(
    connection: &mut Connection,
    request: &ReserveRequest,
) -> rusqlite::Result<ReserveOutcome> {
    let day = request.day.to_string();
    // IMMEDIATE takes the write lock first, so no other connection can reserve
    // between the budget check and the insert.
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    transaction.execute(
        "DELETE FROM reservations WHERE tenant = ?1 AND day = ?2 AND expires_at_micros <= ?3",
        params![request.tenant, day, to_i64(request.now_micros)],
    )?;
    let spent: i64 = transaction
        .query_row(
            "SELECT spent_nanos FROM budget_days WHERE tenant = ?1 AND day = ?2",
            params![request.tenant, day],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let reserved: i64 = transaction.query_row(
        "SELECT COALESCE(SUM(amount_nanos), 0) FROM reservations WHERE tenant = ?1 AND day = ?2",
        params![request.tenant, day],
        |row| row.get(0),
    )?;
    let spent = Nanodollars::from_i64(spent);
    let reserved = Nanodollars::from_i64(reserved);

    if let Some(budget) = request.budget {
        if spent + reserved + request.amount > budget {
            transaction.commit()?;
            return Ok(ReserveOutcome::Exceeded { spent, reserved });
        }
    }

    transaction.execute(
        "INSERT INTO reservations (tenant, day, amount_nanos, expires_at_micros) VALUES (?1, ?2, ?3, ?4)",
        params![
            request.tenant,
            day,
            request.amount.as_i64(),
            to_i64(request.expires_at_micros)
        ],
    )?;
    let id = transaction.last_insert_rowid();
    transaction.commit()?;
    Ok(ReserveOutcome::Reserved(ReservationId(to_u64(id))))
}

fn settle(connection: &mut Connection, request: &SettleRequest) -> rusqlite::Result<()> {
    let day = request.day.to_string();
    let entry = &request.entry;
    let usage = &entry.usage;
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some(id) = request.reservation {
        transaction.execute(
            "DELETE FROM reservations WHERE id = ?1",
            params![to_i64(id.0)],
        )?;
    }
    transaction.execute(
        "INSERT INTO budget_days (tenant, day, spent_nanos, requests, input_tokens, output_tokens)
         VALUES (?1, ?2, ?3, 1, ?4, ?5)
         ON CONFLICT (tenant, day) DO UPDATE SET
             spent_nanos = spent_nanos + excluded.spent_nanos,
             requests = requests + 1,
             input_tokens = input_tokens + excluded.input_tokens,
             output_tokens = output_tokens + excluded.output_tokens",
        params![
            request.tenant,
            day,
            entry.cost.as_i64(),
            to_i64(usage.input_tokens),
            to_i64(usage.output_tokens)
        ],
    )?;
    transaction.execute(
        "INSERT INTO usage_ledger (at_micros, tenant, day, request_id, user_id, model,
             input_tokens, cached_input_tokens, cache_write_tokens, output_tokens,
             reasoning_tokens, estimated, cost_nanos, priced, prices_version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        params![
            to_i64(entry.at_micros),
            request.tenant,
            day,
            entry.request_id,
            entry.user,
            entry.model,
            to_i64(usage.input_tokens),
            to_i64(usage.cached_input_tokens),
            to_i64(usage.cache_write_tokens),
            to_i64(usage.output_tokens),
            to_i64(usage.reasoning_tokens),
            usage.estimated,
            entry.cost.as_i64(),
            entry.priced,
            entry.prices_version
        ],
    )?;
    transaction.commit()
}

fn usage(
    connection: &mut Connection,
    from: UtcDay,
    to: UtcDay,
) -> rusqlite::Result<Vec<TenantDay>> {
    let mut statement = connection.prepare(
        "SELECT tenant, day, requests, input_tokens, output_tokens, spent_nanos
         FROM budget_days WHERE day >= ?1 AND day <= ?2 AND requests > 0
         ORDER BY day, tenant",
    )?;
    let rows = statement.query_map(params![from.to_string(), to.to_string()], |row| {
        let day: String = row.get(1)?;
        let day = day.parse::<UtcDay>().map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(
                1,
                rusqlite::types::Type::Text,
                Box::new(error),
            )
        })?;
        Ok(TenantDay {
            tenant: row.get(0)?,
            day,
            requests: to_u64(row.get(2)?),
            input_tokens: to_u64(row.get(3)?),
            output_tokens: to_u64(row.get(4)?),
            cost: Nanodollars::from_i64(row.get(5)?),
        })
    })?;
    rows.collect()
}

impl CostStore for SqliteStore {
    fn reserve(&self, request: ReserveRequest) -> StoreFuture<'_, ReserveOutcome> {
        Box::pin(self.with_connection(move |connection| reserve(connection, &request)))
    }

    fn settle(&self, request: SettleRequest) -> StoreFuture<'_, ()> {
        Box::pin(self.with_connection(move |connection| settle(connection, &request)))
    }

    fn release(&self, _tenant: String, _day: UtcDay, id: ReservationId) -> StoreFuture<'_, ()> {
        Box::pin(self.with_connection(move |connection| {
            connection
                .execute(
                    "DELETE FROM reservations WHERE id = ?1",
                    params![to_i64(id.0)],
                )
                .map(drop)
        }))
    }

    fn check_rate(&self, checks: Vec<RateCheck>, now_micros: u64) -> StoreFuture<'_, RateDecision> {
        Box::pin(async move { self.rates.check(&checks, now_micros) })
    }

    fn budget_state(
        &self,
        tenant: String,
        day: UtcDay,
        now_micros: u64,
    ) -> StoreFuture<'_, BudgetState> {
        Box::pin(self.with_connection(move |connection| {
            let day = day.to_string();
            let spent: i64 = connection
                .query_row(
                    "SELECT spent_nanos FROM budget_days WHERE tenant = ?1 AND day = ?2",
                    params![tenant, day],
                    |row| row.get(0),
                )
                .optional()?
                .unwrap_or(0);
            let reserved: i64 = connection.query_row(
                "SELECT COALESCE(SUM(amount_nanos), 0) FROM reservations
                 WHERE tenant = ?1 AND day = ?2 AND expires_at_micros > ?3",
                params![tenant, day, to_i64(now_micros)],
                |row| row.get(0),
            )?;
            Ok(BudgetState {
                spent: Nanodollars::from_i64(spent),
                reserved: Nanodollars::from_i64(reserved),
            })
        }))
    }

    fn usage(&self, from: UtcDay, to: UtcDay) -> StoreFuture<'_, Vec<TenantDay>> {
        Box::pin(self.with_connection(move |connection| usage(connection, from, to)))
    }

    fn health(&self) -> StoreFuture<'_, ()> {
        Box::pin(
            self.with_connection(|connection| connection.query_row("SELECT 1", [], |_| Ok(()))),
        )
    }
}
