//! cql_shim: a C ABI over the `scylla` CQL driver (see include/cql_shim.h for
//! the contract every function here implements).
//!
//! Layout: this file holds the runtime, connect/prepare/query/free and FFI
//! helpers; `execute` the asynchronous cql_execute; `rows` results and bound
//! values; `errors` the result codes; `retry` the budgeted retry policy.
//!
//! Threading model: one process-wide multi-threaded tokio runtime, created on
//! first use and never shut down (threads named "cql-shim"). Blocking entry
//! points (`cql_connect`, `cql_prepare`, `cql_query`) `block_on` it from the
//! caller's thread; `cql_execute` spawns a task that invokes the C callback
//! on a runtime thread when the request completes.
//!
//! Panic safety: no panic may unwind into C. Every entry point runs inside
//! `ffi_guard` (catch_unwind → CQL_ERR_OTHER), and every spawned request runs
//! inside `catch_unwind`, so a driver bug fails one request — its callback
//! still fires exactly once — instead of killing the server. (We keep
//! `panic = "unwind"` for that reason; a panic escaping these guards inside an
//! `extern "C"` function aborts, per Rust >= 1.81, and never unwinds into C.)

mod errors;
mod execute;
mod retry;
mod rows;

use std::ffi::{c_char, CStr, CString};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::frame::types::Consistency;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::statement::prepared::PreparedStatement;

use crate::errors::*;
use crate::retry::{BudgetedRetryPolicy, RetryBudget};
pub use crate::rows::{CValue, CqlRows};

const DEFAULT_CONNECT_TIMEOUT_MS: i64 = 5_000;
const DEFAULT_REQUEST_TIMEOUT_MS: i64 = 5_000;
const DEFAULT_QUERY_TIMEOUT_MS: i64 = 30_000;
const DEFAULT_RETRY_PERCENT: u32 = 10;
const RETRY_RESERVE: u32 = 10;
const RETRY_CAPACITY: u32 = 100;
const DEFAULT_MAX_IN_FLIGHT: usize = 8192;

/// Runs `f`, turning a panic into CQL_ERR_OTHER.
pub(crate) fn ffi_guard<F: FnOnce() -> i32>(f: F) -> i32 {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(CQL_ERR_OTHER)
}

/// The body of every `*_free` entry point: NULL is a no-op, anything else is
/// released by `free` inside `ffi_guard`.
pub(crate) fn ffi_free<T>(p: *mut T, free: impl FnOnce(*mut T)) {
    if !p.is_null() {
        ffi_guard(|| {
            free(p);
            CQL_OK
        });
    }
}

/// The body of every entry point with a `char** error`: clears it, runs `f`
/// with panics caught, and reports `f`'s error (or the panic) there.
fn ffi_call<F: FnOnce() -> Result<(), ShimError>>(error: *mut *mut c_char, f: F) -> i32 {
    let result = catch_unwind(AssertUnwindSafe(|| {
        clear(error);
        f()
    }));
    match result {
        Ok(Ok(())) => CQL_OK,
        Ok(Err(e)) => report(e, error),
        Err(_) => report(
            ShimError::new(CQL_ERR_OTHER, "cql_shim: internal error (panic)"),
            error,
        ),
    }
}

/// The client behind a C handle, or INVALID_ARGUMENT for NULL.
unsafe fn client_ref<'a>(client: *mut CqlClient) -> Result<&'a CqlClient, ShimError> {
    client
        .as_ref()
        .ok_or_else(|| ShimError::invalid_argument("client is NULL"))
}

pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("cql-shim")
            .enable_all()
            .build()
            // Without a runtime nothing works; the panic becomes CQL_ERR_OTHER.
            .expect("cql_shim: cannot start the tokio runtime")
    })
}

/// Runs a future to completion on the runtime from a non-runtime thread.
fn block_on<F: Future>(future: F) -> Result<F::Output, ShimError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(ShimError::invalid_argument(
            "blocking cql_shim call on a runtime (callback) thread",
        ));
    }
    Ok(runtime().block_on(future))
}

pub(crate) fn ms(value: i64, default_ms: i64) -> Duration {
    Duration::from_millis(if value > 0 { value } else { default_ms } as u64)
}

pub(crate) fn consistency_from_c(cl: i32, default: Consistency) -> Result<Consistency, ShimError> {
    Ok(match cl {
        0 => default,
        1 => Consistency::One,
        2 => Consistency::Two,
        3 => Consistency::Three,
        4 => Consistency::Quorum,
        5 => Consistency::All,
        6 => Consistency::LocalQuorum,
        7 => Consistency::EachQuorum,
        10 => Consistency::LocalOne,
        16 => Consistency::Any,
        other => {
            return Err(ShimError::invalid_argument(format!(
                "unknown consistency {other}"
            )))
        }
    })
}

/// Stores `error`'s message in `*out` (if `out` is non-NULL) and returns its code.
fn report(error: ShimError, out: *mut *mut c_char) -> i32 {
    if !out.is_null() {
        let text = CString::new(error.message.replace('\0', " ")).unwrap_or_default();
        // SAFETY: non-NULL out-pointers are writable per the C contract.
        unsafe { *out = text.into_raw() };
    }
    error.code
}

fn clear(out: *mut *mut c_char) {
    if !out.is_null() {
        // SAFETY: as in `report`.
        unsafe { *out = std::ptr::null_mut() };
    }
}

unsafe fn c_str<'a>(s: *const c_char, what: &str) -> Result<&'a str, ShimError> {
    if s.is_null() {
        return Err(ShimError::invalid_argument(format!("{what} is NULL")));
    }
    CStr::from_ptr(s)
        .to_str()
        .map_err(|_| ShimError::invalid_argument(format!("{what} is not UTF-8")))
}

unsafe fn opt_c_str<'a>(s: *const c_char, what: &str) -> Result<Option<&'a str>, ShimError> {
    if s.is_null() {
        return Ok(None);
    }
    c_str(s, what).map(|v| Some(v).filter(|v| !v.is_empty()))
}

// ---- client ----------------------------------------------------------------

/// Counts requests whose callback has not yet returned, so that
/// `cql_client_free` can wait for them.
#[derive(Default)]
struct InFlight {
    count: Mutex<usize>,
    idle: Condvar,
}

/// Decrements the in-flight count when the request's task ends, however it
/// ends (the task also owns it if it is dropped at runtime shutdown).
pub(crate) struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut count = self.0.count.lock().unwrap_or_else(|e| e.into_inner());
        *count -= 1;
        if *count == 0 {
            self.0.idle.notify_all();
        }
    }
}

pub struct CqlClient {
    pub(crate) session: Arc<Session>,
    pub(crate) default_timeout: Duration,
    pub(crate) default_consistency: Consistency,
    pub(crate) max_in_flight: usize,
    in_flight: Arc<InFlight>,
    closing: AtomicBool,
    pub(crate) retry_budget: Arc<RetryBudget>,
}

impl CqlClient {
    /// Counts a new request in flight, unless the client is being freed.
    /// `max_in_flight` is checked separately so that a rejection can still be
    /// delivered through the (counted) callback path.
    pub(crate) fn acquire(&self) -> Result<(InFlightGuard, usize), ShimError> {
        if self.closing.load(Ordering::Acquire) {
            return Err(ShimError::new(CQL_ERR_UNAVAILABLE, "client is closing"));
        }
        let mut count = self
            .in_flight
            .count
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *count += 1;
        Ok((InFlightGuard(Arc::clone(&self.in_flight)), *count))
    }
}

/// Mirrors `cql_connect_options` in cql_shim.h.
#[repr(C)]
pub struct CConnectOptions {
    hosts: *const *const c_char,
    host_count: usize,
    local_dc: *const c_char,
    username: *const c_char,
    password: *const c_char,
    connect_timeout_ms: i64,
    request_timeout_ms: i64,
    default_consistency: i32,
    retry_percent: i32,
    max_in_flight: i32,
}

unsafe fn connect(options: *const CConnectOptions) -> Result<Box<CqlClient>, ShimError> {
    let o = options
        .as_ref()
        .ok_or_else(|| ShimError::invalid_argument("options is NULL"))?;
    if o.host_count == 0 || o.hosts.is_null() {
        return Err(ShimError::invalid_argument("no hosts given"));
    }
    let mut hosts = Vec::with_capacity(o.host_count);
    for i in 0..o.host_count {
        let host = c_str(*o.hosts.add(i), "host")?;
        // "h" and "h:p" are both accepted; bare IPv6 literals need "[h]:p".
        hosts.push(if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:9042")
        });
    }
    let local_dc = opt_c_str(o.local_dc, "local_dc")?;
    let username = opt_c_str(o.username, "username")?;
    let password = opt_c_str(o.password, "password")?;
    let connect_timeout = ms(o.connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS);
    let request_timeout = ms(o.request_timeout_ms, DEFAULT_REQUEST_TIMEOUT_MS);
    let consistency = consistency_from_c(o.default_consistency, Consistency::LocalQuorum)?;
    let retry_percent = match o.retry_percent {
        0 => DEFAULT_RETRY_PERCENT,
        p if p < 0 => 0,
        p => p as u32,
    };
    let max_in_flight = if o.max_in_flight > 0 {
        o.max_in_flight as usize
    } else {
        DEFAULT_MAX_IN_FLIGHT
    };

    // Token-aware (prepared statements are routed to a replica of their
    // partition key) and, with a local DC, DC-aware without failover.
    let mut lb = DefaultPolicy::builder().token_aware(true);
    if let Some(dc) = local_dc {
        lb = lb
            .prefer_datacenter(dc.to_owned())
            .permit_dc_failover(false);
    }
    let budget = Arc::new(RetryBudget::new(
        retry_percent,
        RETRY_RESERVE,
        RETRY_CAPACITY,
    ));
    let profile = ExecutionProfile::builder()
        .consistency(consistency)
        .request_timeout(Some(request_timeout))
        .load_balancing_policy(lb.build())
        .retry_policy(Arc::new(BudgetedRetryPolicy::new(Arc::clone(&budget))))
        .build();
    let mut builder = SessionBuilder::new()
        .known_nodes(&hosts)
        .connection_timeout(connect_timeout)
        .default_execution_profile_handle(profile.into_handle());
    match (username, password) {
        (Some(u), Some(p)) => builder = builder.user(u, p),
        (None, None) => {}
        _ => {
            return Err(ShimError::invalid_argument(
                "give both username and password, or neither",
            ))
        }
    }

    let overall = connect_timeout * 4;
    let session = block_on(async { tokio::time::timeout(overall, builder.build()).await })?
        .map_err(|_| {
            ShimError::new(
                CQL_ERR_UNAVAILABLE,
                format!("could not connect to {hosts:?} within {overall:?}"),
            )
        })?
        .map_err(|e| {
            ShimError::new(
                new_session_error_code(&e),
                format!("connect to {hosts:?}: {e}"),
            )
        })?;
    Ok(Box::new(CqlClient {
        session: Arc::new(session),
        default_timeout: request_timeout,
        default_consistency: consistency,
        max_in_flight,
        in_flight: Arc::new(InFlight::default()),
        closing: AtomicBool::new(false),
        retry_budget: budget,
    }))
}

#[no_mangle]
pub unsafe extern "C" fn cql_connect(
    options: *const CConnectOptions,
    out: *mut *mut CqlClient,
    error: *mut *mut c_char,
) -> i32 {
    ffi_call(error, || {
        if out.is_null() {
            return Err(ShimError::invalid_argument("out is NULL"));
        }
        *out = Box::into_raw(connect(options)?);
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn cql_client_free(client: *mut CqlClient) -> i32 {
    ffi_guard(|| {
        if client.is_null() {
            return CQL_OK;
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            // Waiting here could wait for ourselves; leak instead.
            return CQL_ERR_INVALID_ARGUMENT;
        }
        let c = &*client;
        c.closing.store(true, Ordering::Release);
        let mut count = c.in_flight.count.lock().unwrap_or_else(|e| e.into_inner());
        while *count > 0 {
            count = c
                .in_flight
                .idle
                .wait(count)
                .unwrap_or_else(|e| e.into_inner());
        }
        drop(count);
        let boxed = Box::from_raw(client);
        // Dropping the session stops its background tasks; that needs the
        // runtime context.
        let _enter = runtime().enter();
        drop(boxed);
        CQL_OK
    })
}

// ---- statements ------------------------------------------------------------

pub struct CqlPrepared {
    pub(crate) statement: PreparedStatement,
}

#[no_mangle]
pub unsafe extern "C" fn cql_prepare(
    client: *mut CqlClient,
    cql: *const c_char,
    idempotent: i32,
    timeout_ms: i64,
    out: *mut *mut CqlPrepared,
    error: *mut *mut c_char,
) -> i32 {
    ffi_call(error, || {
        let c = client_ref(client)?;
        if out.is_null() {
            return Err(ShimError::invalid_argument("out is NULL"));
        }
        let text = c_str(cql, "cql")?;
        let timeout = if timeout_ms > 0 {
            ms(timeout_ms, 0)
        } else {
            c.default_timeout
        };
        let prepared =
            block_on(async { tokio::time::timeout(timeout, c.session.prepare(text)).await })?
                .map_err(|_| {
                    ShimError::new(
                        CQL_ERR_TIMEOUT,
                        format!("prepare timed out after {timeout:?}"),
                    )
                })?
                .map_err(|e| from_prepare(&e))?;
        let mut statement = prepared;
        statement.set_is_idempotent(idempotent != 0);
        *out = Box::into_raw(Box::new(CqlPrepared { statement }));
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn cql_prepared_free(prepared: *mut CqlPrepared) {
    // SAFETY: from Box::into_raw in cql_prepare, freed once (the C contract).
    ffi_free(prepared, |p| drop(Box::from_raw(p)));
}

#[no_mangle]
pub unsafe extern "C" fn cql_query(
    client: *mut CqlClient,
    cql: *const c_char,
    timeout_ms: i64,
    error: *mut *mut c_char,
) -> i32 {
    ffi_call(error, || {
        let c = client_ref(client)?;
        let text = c_str(cql, "cql")?;
        let timeout = ms(timeout_ms, DEFAULT_QUERY_TIMEOUT_MS);
        let mut statement = scylla::statement::unprepared::Statement::new(text);
        statement.set_request_timeout(Some(timeout));
        block_on(c.session.query_unpaged(statement, ()))?
            .map(|_| ())
            .map_err(|e| from_execution(&e))
    })
}

// ---- misc ------------------------------------------------------------------

#[no_mangle]
pub unsafe extern "C" fn cql_client_retries_denied(client: *const CqlClient) -> u64 {
    client.as_ref().map_or(0, |c| c.retry_budget.denied())
}

#[no_mangle]
pub unsafe extern "C" fn cql_string_free(s: *mut c_char) {
    // SAFETY: from CString::into_raw in the shim, freed once (the C contract).
    ffi_free(s, |p| drop(CString::from_raw(p)));
}

#[no_mangle]
pub extern "C" fn cql_shim_version() -> *const c_char {
    static VERSION: &str = concat!("cql_shim ", env!("CARGO_PKG_VERSION"), " (scylla 1.9)\0");
    VERSION.as_ptr().cast()
}
