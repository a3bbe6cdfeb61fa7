//! A store in Redis, shared by several replicas.

use std::future::Future;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError, Script};
use tokio::sync::OnceCell;

use super::{
    BudgetState, CostStore, RateDecision, ReservationId, ReserveOutcome, ReserveRequest,
    SettleRequest, StoreError, StoreFuture,
};
use crate::rate::{RateLimited, RateStatus};
use crate::{Nanodollars, RateCheck, TenantDay, UtcDay};

/// How long one store operation may take before Redis counts as unavailable.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Days a day's budget counters are kept after the day ends, for usage reports.
const RETENTION_DAYS: u64 = 35;
const MICROS_PER_DAY: u64 = 86_400_000_000;

/// Drops expired reservations, then reserves the amount unless the budget is spent.
///
/// KEYS: budget hash, reservation amounts hash, reservation expiry sorted set,
/// reservation id counter.
/// ARGV: amount, budget (-1 for none), now, expiry of this reservation,
/// expiry time of the budget hash and of the reservation keys (Unix ms).
const RESERVE_SCRIPT: &str = r"
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[3])
for _, id in ipairs(expired) do
  local held = redis.call('HGET', KEYS[2], id)
  if held then
    redis.call('HINCRBY', KEYS[1], 'reserved', -tonumber(held))
    redis.call('HDEL', KEYS[2], id)
  end
  redis.call('ZREM', KEYS[3], id)
end
local spent = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0')
if reserved < 0 then reserved = 0 end
local amount = tonumber(ARGV[1])
local budget = tonumber(ARGV[2])
if budget >= 0 and spent + reserved + amount > budget then
  return {0, spent, reserved}
end
local id = redis.call('INCR', KEYS[4])
redis.call('HINCRBY', KEYS[1], 'reserved', amount)
redis.call('HSET', KEYS[2], id, amount)
redis.call('ZADD', KEYS[3], ARGV[4], id)
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
redis.call('PEXPIREAT', KEYS[2], ARGV[6])
redis.call('PEXPIREAT', KEYS[3], ARGV[6])
return {1, id, 0}
";

/// Drops a reservation if it still exists.
///
/// KEYS: budget hash, reservation amounts hash, reservation expiry sorted set.
/// ARGV: reservation id, or an empty string for none.
const RELEASE_PART: &str = r"
if ARGV[1] ~= '' then
  local held = redis.call('HGET', KEYS[2], ARGV[1])
  if held then
    redis.call('HINCRBY', KEYS[1], 'reserved', -tonumber(held))
    redis.call('HDEL', KEYS[2], ARGV[1])
  end
  redis.call('ZREM', KEYS[3], ARGV[1])
end
";

/// Adds the real cost after dropping the reservation.
///
/// KEYS: as the release part, then the set of tenants active that day.
/// ARGV: as the release part, then cost, input tokens, output tokens, tenant,
/// expiry time of the budget hash (Unix ms).
const SETTLE_PART: &str = r"
redis.call('HINCRBY', KEYS[1], 'spent', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'requests', 1)
redis.call('HINCRBY', KEYS[1], 'input_tokens', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'output_tokens', ARGV[4])
redis.call('SADD', KEYS[4], ARGV[5])
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
redis.call('PEXPIREAT', KEYS[4], ARGV[6])
return 1
";

/// GCRA over several keys: counts the request against all of them or none.
///
/// KEYS: one TAT key per check.
/// ARGV: now (Unix µs), then interval and burst window (µs) per key.
/// Returns {1, index, remaining, reset} of the tightest allowed key, or
/// {0, index, retry_after, reset} of the first key that rejects.
const GCRA_SCRIPT: &str = r"
local now = tonumber(ARGV[1])
local new_tats = {}
local tightest, tightest_remaining, tightest_reset = 0, 0, 0
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - window
  if now < allow_at then
    return {0, i, allow_at - now, tat - now}
  end
  new_tats[i] = new_tat
  local remaining = math.floor((now - allow_at) / interval)
  if tightest == 0 or remaining < tightest_remaining then
    tightest, tightest_remaining, tightest_reset = i, remaining, new_tat - now
  end
end
for i, key in ipairs(KEYS) do
  local ttl_ms = math.ceil((new_tats[i] - now) / 1000) + 1000
  redis.call('SET', key, string.format('%.0f', new_tats[i]), 'PX', ttl_ms)
end
return {1, tightest, tightest_remaining, tightest_reset}
";

/// A [`CostStore`] in Redis, so every replica enforces one budget and one rate.
///
/// Reservations, settlements and rate checks are Lua scripts, which Redis runs
/// atomically. Budget counters are kept per tenant and UTC day and expire 35
/// days after the day ends; the usage report cannot reach further back.
/// Rate-limit keys expire once their burst is whole again. The connection is
/// opened on first use and reopened after a failure. An operation that cannot
/// reach Redis, or takes over a second, returns an error for which
/// [`StoreError::is_unavailable`] is true.
///
/// Times come from each replica's [`Clock`](crate::Clock), not from Redis, so
/// tests can control them; replicas need synchronised clocks.
///
/// NOTE: the Redis store keeps daily totals only, not one ledger row per
/// call, so per-call detail is left to the request logs.
///
/// ```
/// use shipped_cost::RedisStore;
///
/// let store = RedisStore::connect("redis://127.0.0.1:6379", "hello-ship:").unwrap();
/// # drop(store);
/// ```
#[derive(Debug)]
pub struct RedisStore {
    client: Client,
    manager: OnceCell<ConnectionManager>,
    prefix: String,
    reserve: Script,
    release: Script,
    settle: Script,
    gcra: Script,
}

fn redis_error(error: RedisError) -> StoreError {
    if error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
    {
        StoreError::unavailable(error)
    } else {
        StoreError::backend(error)
    }
}

fn as_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl RedisStore {
    /// Creates a store for the Redis server at `url`, with every key starting
    /// with `prefix`. Nothing is sent until the first operation.
    ///
    /// # Errors
    ///
    /// Returns a [`StoreError`] when the URL does not parse.
    pub fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = Client::open(url).map_err(StoreError::backend)?;
        Ok(Self {
            client,
            manager: OnceCell::new(),
            prefix: prefix.to_owned(),
            reserve: Script::new(RESERVE_SCRIPT),
            release: Script::new(&format!("{RELEASE_PART}return 1")),
            settle: Script::new(&format!("{RELEASE_PART}{SETTLE_PART}")),
            gcra: Script::new(GCRA_SCRIPT),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        let manager = self
            .manager
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(OPERATION_TIMEOUT))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(200));
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            })
            .await
            .map_err(redis_error)?;
        Ok(manager.clone())
    }

    /// Runs one operation with the deadline that marks Redis unavailable.
    async fn run<T>(
        &self,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(OPERATION_TIMEOUT, operation).await {
            Ok(result) => result,
            Err(elapsed) => Err(StoreError::unavailable(elapsed)),
        }
    }

    fn day_keys(&self, tenant: &str, day: UtcDay) -> [String; 3] {
        // The tenant id's length keeps `a:b` + `c` apart from `a` + `b:c`.
        let scope = format!("{}:{tenant}:{day}", tenant.len());
        [
            format!("{}budget:{scope}", self.prefix),
            format!("{}reservations:{scope}", self.prefix),
            format!("{}reservation-expiry:{scope}", self.prefix),
        ]
    }

    fn tenants_key(&self, day: UtcDay) -> String {
        format!("{}tenants:{day}", self.prefix)
    }

    /// Unix milliseconds when a day's budget counters expire.
    fn budget_expiry_ms(day: UtcDay) -> u64 {
        (day.next().start_micros() + RETENTION_DAYS * MICROS_PER_DAY) / 1_000
    }

    /// Unix milliseconds when a day's reservation keys expire: a day after it ends.
    fn reservation_expiry_ms(day: UtcDay) -> u64 {
        (day.next().start_micros() + MICROS_PER_DAY) / 1_000
    }

    async fn reserve_now(&self, request: ReserveRequest) -> Result<ReserveOutcome, StoreError> {
        let mut connection = self.connection().await?;
        let [budget, reservations, expiry] = self.day_keys(&request.tenant, request.day);
        let limit = request.budget.map_or(-1, Nanodollars::as_i64);
        let reply: Vec<i64> = self
            .reserve
            .key(budget)
            .key(reservations)
            .key(expiry)
            .key(format!("{}reservation-seq", self.prefix))
            .arg(request.amount.as_i64())
            .arg(limit)
            .arg(as_i64(request.now_micros))
            .arg(as_i64(request.expires_at_micros))
            .arg(as_i64(Self::budget_expiry_ms(request.day)))
            .arg(as_i64(Self::reservation_expiry_ms(request.day)))
            .invoke_async(&mut connection)
            .await
            .map_err(redis_error)?;
        match reply.as_slice() {
            [1, id, _] => Ok(ReserveOutcome::Reserved(ReservationId(
                u64::try_from(*id).unwrap_or(0),
            ))),
            [0, spent, reserved] => Ok(ReserveOutcome::Exceeded {
                spent: Nanodollars::from_i64(*spent),
                reserved: Nanodollars::from_i64(*reserved),
            }),
            other => Err(StoreError::backend(format!(
                "unexpected reserve script reply {other:?}"
            ))),
        }
    }

    async fn settle_now(&self, request: SettleRequest) -> Result<(), StoreError> {
        let mut connection = self.connection().await?;
        let [budget, reservations, expiry] = self.day_keys(&request.tenant, request.day);
        let id = request
            .reservation
            .map(|id| id.0.to_string())
            .unwrap_or_default();
        let usage = &request.entry.usage;
        let _: i64 = self
            .settle
            .key(budget)
            .key(reservations)
            .key(expiry)
            .key(self.tenants_key(request.day))
            .arg(id)
            .arg(request.entry.cost.as_i64())
            .arg(as_i64(usage.input_tokens))
            .arg(as_i64(usage.output_tokens))
            .arg(&request.tenant)
            .arg(as_i64(Self::budget_expiry_ms(request.day)))
            .invoke_async(&mut connection)
            .await
            .map_err(redis_error)?;
        Ok(())
    }

    async fn release_now(
        &self,
        tenant: String,
        day: UtcDay,
        id: ReservationId,
    ) -> Result<(), StoreError> {
        let mut connection = self.connection().await?;
        let [budget, reservations, expiry] = self.day_keys(&tenant, day);
        let _: i64 = self
            .release
            .key(budget)
            .key(reservations)
            .key(expiry)
            .arg(id.0.to_string())
            .invoke_async(&mut connection)
            .await
            .map_err(redis_error)?;
        Ok(())
    }

    async fn check_rate_now(
        &self,
        checks: Vec<RateCheck>,
        now: u64,
    ) -> Result<RateDecision, StoreError> {
        if checks.is_empty() {
            return Ok(RateDecision::Allowed(None));
        }
        let mut connection = self.connection().await?;
        let mut invocation = self.gcra.prepare_invoke();
        invocation.arg(as_i64(now));
        for check in &checks {
            invocation
                .key(format!("{}rate:{}", self.prefix, check.key))
                .arg(as_i64(check.limit.interval_micros()))
                .arg(as_i64(check.limit.burst_window_micros()));
        }
        let reply: Vec<i64> = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(redis_error)?;
        let micros = |value: i64| Duration::from_micros(u64::try_from(value).unwrap_or(0));
        let (allowed, index, value, reset) = match reply.as_slice() {
            [allowed, index, value, reset] => (*allowed, *index, *value, *reset),
            other => {
                return Err(StoreError::backend(format!(
                    "unexpected rate script reply {other:?}"
                )));
            }
        };
        let check = usize::try_from(index - 1)
            .ok()
            .and_then(|index| checks.get(index))
            .ok_or_else(|| StoreError::backend(format!("rate script named check {index}")))?;
        let limit = check.limit.requests_per_minute();
        if allowed == 1 {
            Ok(RateDecision::Allowed(Some(RateStatus {
                limit,
                remaining: u32::try_from(value).unwrap_or(0),
                reset: micros(reset),
            })))
        } else {
            Ok(RateDecision::Limited(RateLimited {
                scope: check.scope,
                retry_after: micros(value),
                limit,
                remaining: 0,
                reset: micros(reset),
            }))
        }
    }

    async fn budget_state_now(
        &self,
        tenant: String,
        day: UtcDay,
        now: u64,
    ) -> Result<BudgetState, StoreError> {
        let mut connection = self.connection().await?;
        let [budget, reservations, expiry] = self.day_keys(&tenant, day);
        let spent: Option<i64> = redis::cmd("HGET")
            .arg(&budget)
            .arg("spent")
            .query_async(&mut connection)
            .await
            .map_err(redis_error)?;
        // Sum the reservations that have not expired, as reserve would count them.
        let live: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(&expiry)
            .arg(format!("({now}"))
            .arg("+inf")
            .query_async(&mut connection)
            .await
            .map_err(redis_error)?;
        let mut reserved = Nanodollars::ZERO;
        if !live.is_empty() {
            let amounts: Vec<Option<i64>> = redis::cmd("HMGET")
                .arg(&reservations)
                .arg(&live)
                .query_async(&mut connection)
                .await
                .map_err(redis_error)?;
            for amount in amounts.into_iter().flatten() {
                reserved += Nanodollars::from_i64(amount);
            }
        }
        Ok(BudgetState {
            spent: Nanodollars::from_i64(spent.unwrap_or(0)),
            reserved,
        })
    }

    async fn usage_now(&self, from: UtcDay, to: UtcDay) -> Result<Vec<TenantDay>, StoreError> {
        let mut connection = self.connection().await?;
        let mut rows = Vec::new();
        let mut day = from;
        while day <= to {
            let mut tenants: Vec<String> = redis::cmd("SMEMBERS")
                .arg(self.tenants_key(day))
                .query_async(&mut connection)
                .await
                .map_err(redis_error)?;
            tenants.sort();
            for tenant in tenants {
                let [budget, _, _] = self.day_keys(&tenant, day);
                let fields: Vec<Option<i64>> = redis::cmd("HMGET")
                    .arg(&budget)
                    .arg(&["requests", "input_tokens", "output_tokens", "spent"])
                    .query_async(&mut connection)
                    .await
                    .map_err(redis_error)?;
                let field = |index: usize| {
                    fields
                        .get(index)
                        .copied()
                        .flatten()
                        .map_or(0, |value| u64::try_from(value).unwrap_or(0))
                };
                if field(0) == 0 {
                    continue;
                }
                rows.push(TenantDay {
                    tenant,
                    day,
                    requests: field(0),
                    input_tokens: field(1),
                    output_tokens: field(2),
                    cost: Nanodollars::new(field(3)),
                });
            }
            if day.next() == day {
                break;
            }
            day = day.next();
        }
        Ok(rows)
    }

    async fn health_now(&self) -> Result<(), StoreError> {
        let mut connection = self.connection().await?;
        let _: String = redis::cmd("PING")
            .query_async(&mut connection)
            .await
            .map_err(redis_error)?;
        Ok(())
    }
}

impl CostStore for RedisStore {
    fn reserve(&self, request: ReserveRequest) -> StoreFuture<'_, ReserveOutcome> {
        Box::pin(self.run(self.reserve_now(request)))
    }

    fn settle(&self, request: SettleRequest) -> StoreFuture<'_, ()> {
        Box::pin(self.run(self.settle_now(request)))
    }

    fn release(&self, tenant: String, day: UtcDay, id: ReservationId) -> StoreFuture<'_, ()> {
        Box::pin(self.run(self.release_now(tenant, day, id)))
    }

    fn check_rate(&self, checks: Vec<RateCheck>, now_micros: u64) -> StoreFuture<'_, RateDecision> {
        Box::pin(self.run(self.check_rate_now(checks, now_micros)))
    }

    fn budget_state(
        &self,
        tenant: String,
        day: UtcDay,
        now_micros: u64,
    ) -> StoreFuture<'_, BudgetState> {
        Box::pin(self.run(self.budget_state_now(tenant, day, now_micros)))
    }

    fn usage(&self, from: UtcDay, to: UtcDay) -> StoreFuture<'_, Vec<TenantDay>> {
        // A long range reads many keys, so it gets no single-operation deadline;
        // the connection's response timeout still bounds each command.
        Box::pin(self.usage_now(from, to))
    }

    fn health(&self) -> StoreFuture<'_, ()> {
        Box::pin(self.run(self.health_now()))
    }
}
