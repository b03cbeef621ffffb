//! CPU-heavy work off the async runtime: parsing schemas and contracts, and
//! compatibility checks.
//!
//! A contrived schema can make a check take seconds (issue 12), and the async workers
//! are few (one per core), so such work never runs on them: a request that did would
//! stall every other request of the node, `/health/live` included. Work runs on
//! tokio's blocking threads instead, in one of two lanes:
//!
//! * **inline**: work known to be tiny (a text of at most [`INLINE_PARSE_BYTES`], or a
//!   check within [`INLINE_STEPS`] steps: tens of microseconds, about what a handler
//!   spends writing a large JSON answer) runs on the async worker itself. Handing it to
//!   a blocking thread and back costs more than the work (two thread switches, which on
//!   a one-core node were a third of a registration's CPU);
//! * **light**: work known to be small (a text of at most [`LIGHT_PARSE_BYTES`], or a
//!   check within [`LIGHT_STEPS`] steps) runs at once, at most a few at a time, so an
//!   ordinary registration never waits behind a heavy one;
//! * **heavy**: anything bigger (including a check that outgrew the light lane, which
//!   is then run again from the start) waits for one of `concurrency` permits (one less
//!   than the cores by default, so a core stays free for everything else) and gets a
//!   time budget, which covers the wait too. A check charges an
//!   [`accord_compat::Budget`] ending at the same deadline, so it stops by itself;
//!   parsing cannot be interrupted, but its work is bounded by the size of its text.
//!   Past the deadline the request answers 422 [`ApiError::SchemaTooComplex`]; a thread
//!   still parsing keeps its permit until it is done, so the limit holds.

use crate::error::ApiError;
use accord_compat::{
    Budget, CompatibilityLevel, Existing, ParsedSchema, Reference, Report, SchemaError,
    SchemaFormat, TooComplex,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Texts up to this size (schema plus its references) parse inline, on the async
/// worker.
pub const INLINE_PARSE_BYTES: usize = 8 * 1024;

/// Checks are first tried inline with this many steps (well under a millisecond), then
/// in the light lane from the start.
pub const INLINE_STEPS: u64 = 20_000;

/// Texts up to this size (schema plus its references, or a contract) parse in the
/// light lane: a few milliseconds at most.
pub const LIGHT_PARSE_BYTES: usize = 256 * 1024;

/// Checks are tried in the light lane with this many steps (a few milliseconds;
/// ordinary schemas need a few thousand), then in the heavy lane.
pub const LIGHT_STEPS: u64 = 300_000;

/// How long after its deadline a check may take to notice it (it reads the clock
/// every few thousand steps) before the request stops waiting for it.
const GRACE: Duration = Duration::from_millis(200);

/// The two lanes and the heavy lane's budget (see the module docs).
pub struct HeavyWork {
    light: Arc<Semaphore>,
    heavy: Arc<Semaphore>,
    concurrency: usize,
    budget: Duration,
}

impl Default for HeavyWork {
    fn default() -> Self {
        HeavyWork::new(0, crate::config::DEFAULT_HEAVY_WORK_BUDGET)
    }
}

/// One less than the available cores, at least one.
pub fn default_concurrency() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .saturating_sub(1)
        .max(1)
}

impl HeavyWork {
    /// `concurrency` heavy tasks at once (0: [`default_concurrency`]), each within
    /// `budget`.
    pub fn new(concurrency: usize, budget: Duration) -> HeavyWork {
        let concurrency = if concurrency == 0 {
            default_concurrency()
        } else {
            concurrency
        };
        HeavyWork {
            light: Arc::new(Semaphore::new(concurrency.saturating_mul(2).max(2))),
            heavy: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            budget,
        }
    }

    /// Runs small work `f` on a blocking thread.
    pub async fn light<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self
            .light
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(ApiError::internal)
    }

    /// Runs `what` (`f`, given a budget ending at the deadline) on a blocking thread
    /// once a heavy permit is free; 422 when the budget ends first.
    pub async fn heavy<T: Send + 'static>(
        &self,
        what: &str,
        f: impl FnOnce(Budget) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let deadline = Instant::now() + self.budget;
        let permit =
            match tokio::time::timeout_at(deadline, self.heavy.clone().acquire_owned()).await {
                Ok(p) => p.map_err(ApiError::internal)?,
                Err(_) => return Err(self.busy(what)),
            };
        let left = deadline.saturating_duration_since(Instant::now());
        let task = tokio::task::spawn_blocking(move || {
            // Held until the work is done, even when nobody waits for it any more.
            let _permit = permit;
            f(Budget::new(Budget::DEFAULT_STEPS, Some(left)))
        });
        match tokio::time::timeout_at(deadline + GRACE, task).await {
            Ok(done) => done.map_err(ApiError::internal),
            Err(_) => Err(self.too_complex(what, TooComplex::Time(self.budget))),
        }
    }

    /// Parses a schema (and prints its stored text with `print`) in the lane its size
    /// calls for.
    pub async fn parse<T: Send + 'static>(
        &self,
        format: SchemaFormat,
        text: String,
        references: Vec<Reference>,
        print: impl FnOnce(&ParsedSchema) -> T + Send + 'static,
    ) -> Result<Result<(ParsedSchema, T), SchemaError>, ApiError> {
        let size = text.len() + references.iter().map(|r| r.schema.len()).sum::<usize>();
        let run = move || {
            accord_compat::parse(format, &text, &references).map(|p| {
                let printed = print(&p);
                (p, printed)
            })
        };
        if size <= INLINE_PARSE_BYTES {
            Ok(run())
        } else if size <= LIGHT_PARSE_BYTES {
            self.light(run).await
        } else {
            self.heavy("parsing the schema", move |_| run()).await
        }
    }

    /// Runs other small-or-large work (a contract's parse) in the lane `size` calls for.
    pub async fn sized<T: Send + 'static>(
        &self,
        what: &str,
        size: usize,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        if size <= LIGHT_PARSE_BYTES {
            self.light(f).await
        } else {
            self.heavy(what, move |_| f()).await
        }
    }

    /// The compatibility check of `new` against `existing` (version, schema) at
    /// `level`: in the light lane when it fits, else in the heavy one.
    pub async fn check(
        &self,
        level: CompatibilityLevel,
        new: Arc<ParsedSchema>,
        existing: Vec<(i32, Arc<ParsedSchema>)>,
    ) -> Result<Report, ApiError> {
        let run = move |mut budget: Budget| {
            let compared: Vec<Existing<'_>> = existing
                .iter()
                .map(|(version, schema)| Existing {
                    version: *version,
                    schema,
                })
                .collect();
            accord_compat::check_within(level, &new, &compared, &mut budget)
        };
        const WHAT: &str = "the compatibility check";
        match run(Budget::new(INLINE_STEPS, None)) {
            Ok(report) => return Ok(report),
            Err(TooComplex::Steps(_)) => {}
            Err(e) => return Err(self.too_complex(WHAT, e)),
        }
        let retry = run.clone();
        match self
            .light(move || run(Budget::new(LIGHT_STEPS, None)))
            .await?
        {
            Ok(report) => return Ok(report),
            Err(TooComplex::Steps(_)) => {}
            Err(e) => return Err(self.too_complex(WHAT, e)),
        }
        self.heavy(WHAT, retry)
            .await?
            .map_err(|e| self.too_complex(WHAT, e))
    }

    fn too_complex(&self, what: &str, e: TooComplex) -> ApiError {
        ApiError::SchemaTooComplex(match e {
            TooComplex::Steps(n) => format!(
                "{what} needed more than {n} steps, the most one request may take (a fixed bound that keeps its memory bounded); \
                 make the schema simpler, e.g. fewer named types reachable through each union"
            ),
            TooComplex::Time(_) => format!(
                "{what} did not finish within its budget of {} ms; \
                 raise it with --heavy-work-budget-ms (ACCORD_HEAVY_WORK_BUDGET_MS) or make the schema simpler",
                self.budget.as_millis()
            ),
        })
    }

    fn busy(&self, what: &str) -> ApiError {
        ApiError::SchemaTooComplex(format!(
            "{what} is too large for the light lane and waited its whole budget of {} ms for one of the {} heavy-work slots, \
             all busy with other large schemas; retry later, or raise --heavy-work-budget-ms / --heavy-work-concurrency",
            self.budget.as_millis(),
            self.concurrency
        ))
    }
}
