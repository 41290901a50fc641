//! `cql_execute`: asynchronous execution of prepared statements.
//!
//! Arguments are validated and copied on the caller's thread; the request
//! then runs as a task on the shim runtime, and every outcome — including
//! bad arguments and overload — reaches the C callback exactly once on a
//! runtime thread (see cql_shim.h).

use std::ffi::{c_char, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use futures::FutureExt;
use scylla::client::session::Session;
use scylla::response::{PagingState, PagingStateResponse};
use scylla::statement::prepared::PreparedStatement;

use crate::errors::*;
use crate::rows::{self, CValue, CqlRows};
use crate::{consistency_from_c, ffi_guard, ms, runtime, CqlClient, CqlPrepared};

/// Mirrors `cql_exec_options` in cql_shim.h.
#[repr(C)]
pub struct CExecOptions {
    consistency: i32,
    timeout_ms: i64,
    page_size: i32,
    paging_state: *const u8,
    paging_state_len: usize,
}

pub type DoneCallback =
    unsafe extern "C" fn(user: *mut c_void, code: i32, rows: *mut CqlRows, msg: *const c_char);

/// The caller's opaque pointer, moved to the completing thread. The C
/// contract makes the caller responsible for its thread-safety.
struct UserPtr(*mut c_void);
// SAFETY: see above; the shim never dereferences it.
unsafe impl Send for UserPtr {}

fn deliver(callback: DoneCallback, user: UserPtr, outcome: Result<CqlRows, ShimError>) {
    match outcome {
        // SAFETY: the callback is the caller's, invoked once as documented;
        // ownership of the rows passes to it.
        Ok(rows) => unsafe {
            callback(
                user.0,
                CQL_OK,
                Box::into_raw(Box::new(rows)),
                std::ptr::null(),
            )
        },
        Err(e) => {
            let msg = CString::new(e.message.replace('\0', " ")).unwrap_or_default();
            // SAFETY: as above; `msg` outlives the call.
            unsafe { callback(user.0, e.code, std::ptr::null_mut(), msg.as_ptr()) }
        }
    }
}

/// Everything a request task needs, validated and copied on the caller's
/// thread (the C pointers are not valid once cql_execute returns).
struct Request {
    statement: PreparedStatement,
    values: Vec<rows::BoundValue>,
    page_size: i32,
    paging_state: PagingState,
}

unsafe fn build_request(
    c: &CqlClient,
    p: &CqlPrepared,
    values: *const CValue,
    value_count: usize,
    options: *const CExecOptions,
) -> Result<Request, ShimError> {
    let o = options.as_ref();
    let mut statement = p.statement.clone();
    statement.set_consistency(consistency_from_c(
        o.map_or(0, |o| o.consistency),
        c.default_consistency,
    )?);
    let timeout = o.map_or(0, |o| o.timeout_ms);
    statement.set_request_timeout(Some(ms(timeout, c.default_timeout.as_millis() as i64)));
    let paging_state = match o {
        Some(o) if o.paging_state_len > 0 => {
            if o.paging_state.is_null() {
                return Err(ShimError::invalid_argument("paging_state is NULL, len > 0"));
            }
            let bytes = std::slice::from_raw_parts(o.paging_state, o.paging_state_len);
            PagingState::new_from_raw_bytes(bytes.to_vec())
        }
        _ => PagingState::start(),
    };
    Ok(Request {
        statement,
        values: rows::convert_values(values, value_count)?,
        page_size: o.map_or(0, |o| o.page_size),
        paging_state,
    })
}

async fn run(session: &Session, request: Request) -> Result<CqlRows, ShimError> {
    let Request {
        mut statement,
        values,
        page_size,
        paging_state,
    } = request;
    let (result, paging) = if page_size > 0 {
        statement.set_page_size(page_size);
        session
            .execute_single_page(&statement, &values, paging_state)
            .await
    } else {
        session
            .execute_unpaged(&statement, &values)
            .await
            .map(|r| (r, PagingStateResponse::NoMorePages))
    }
    .map_err(|e| from_execution(&e))?;
    CqlRows::from_result(result, paging)
}

#[no_mangle]
pub unsafe extern "C" fn cql_execute(
    client: *mut CqlClient,
    prepared: *const CqlPrepared,
    values: *const CValue,
    value_count: usize,
    options: *const CExecOptions,
    callback: Option<DoneCallback>,
    user: *mut c_void,
) -> i32 {
    ffi_guard(|| {
        let (Some(c), Some(p), Some(callback)) = (client.as_ref(), prepared.as_ref(), callback)
        else {
            return CQL_ERR_INVALID_ARGUMENT;
        };
        let (guard, in_flight) = match c.acquire() {
            Ok(g) => g,
            Err(e) => return e.code,
        };
        c.retry_budget.deposit();
        // From here on every outcome, including bad arguments and overload,
        // is delivered through the callback on a runtime thread, never inline.
        let request = if in_flight > c.max_in_flight {
            Err(ShimError::new(
                CQL_ERR_UNAVAILABLE,
                format!("too many requests in flight (limit {})", c.max_in_flight),
            ))
        } else {
            build_request(c, p, values, value_count, options)
        };
        let session = Arc::clone(&c.session);
        let user = UserPtr(user);
        runtime().spawn(async move {
            let outcome = match request {
                Ok(request) => AssertUnwindSafe(run(&session, request))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        Err(ShimError::new(CQL_ERR_OTHER, "cql_shim: driver panicked"))
                    }),
                Err(e) => Err(e),
            };
            // A panicking callback would be a C++ bug (it must be noexcept);
            // contain it so the guard below still runs.
            let _ = catch_unwind(AssertUnwindSafe(|| deliver(callback, user, outcome)));
            drop(session);
            drop(guard);
        });
        CQL_OK
    })
}
