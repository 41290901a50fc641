/*
 * cql_shim.h — a small C ABI over the Rust `scylla` CQL driver.
 *
 * This is the only interface between the Data Services C++ code and the
 * driver; C++ code should use ds::storage::cassandra::CqlClient
 * (../cql_client.h), which wraps it in RAII types and absl::Status.
 *
 * What the driver does for us behind this API: token-aware routing of prepared
 * statements (to a replica of the bound partition key, preferring
 * `local_dc`), connection pools per node, reconnection after a node restarts,
 * re-preparing statements a restarted node forgot, and retries of transient
 * errors (per the driver's default policy, limited by a retry budget, see
 * cql_connect_options.retry_percent).
 *
 * Threads: every function may be called from any thread, concurrently, except
 * that a handle must not be freed while another call uses it. Completion
 * callbacks run on the shim's internal runtime threads ("cql-shim"); they
 * must return quickly and must not call the blocking functions
 * (cql_connect, cql_prepare, cql_query, cql_client_free), which detect this
 * and fail with CQL_ERR_INVALID_ARGUMENT rather than deadlock. A callback may
 * call cql_execute (e.g. to fetch the next page).
 *
 * Errors: functions return one of the CQL_* codes below. Where a `char**
 * error` out-parameter is given, a failure also stores a NUL-terminated
 * message there that the caller frees with cql_string_free (NULL on success;
 * the parameter itself may be NULL).
 *
 * Usage:
 *   cql_connect_options o = {0};
 *   const char* hosts[] = {"127.0.0.1"};
 *   o.hosts = hosts; o.host_count = 1;
 *   cql_client* c; char* err;
 *   if (cql_connect(&o, &c, &err) != CQL_OK) { puts(err); cql_string_free(err); }
 *   cql_prepared* p;
 *   cql_prepare(c, "SELECT v FROM ks.t WHERE k = ?", 1, 0, &p, &err);
 *   cql_value k = {CQL_VALUE_BIGINT, 42, NULL, 0};
 *   cql_execute(c, p, &k, 1, NULL, on_done, ctx);   // on_done frees rows
 *   ...
 *   cql_prepared_free(p); cql_client_free(c);
 */
#ifndef DS_STORAGE_CASSANDRA_CQL_SHIM_H_
#define DS_STORAGE_CASSANDRA_CQL_SHIM_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- result codes ------------------------------------------------------ */

#define CQL_OK 0
/* The request timed out: the client deadline (request timeout) passed, or the
 * coordinator timed out waiting for replicas (read/write timeout). A write
 * may or may not have been applied. */
#define CQL_ERR_TIMEOUT 1
/* Transient: not enough live replicas, coordinator overloaded or
 * bootstrapping, replica failure, no connection to any node, or the client
 * is closing. Retrying later may succeed. */
#define CQL_ERR_UNAVAILABLE 2
/* The statement or its bound values are wrong: syntax error, invalid query,
 * unknown table, value of the wrong type, already exists. Do not retry. */
#define CQL_ERR_INVALID_QUERY 3
/* The authenticated user lacks a permission. */
#define CQL_ERR_UNAUTHORIZED 4
/* Authentication failed (bad or missing credentials). */
#define CQL_ERR_BAD_CREDENTIALS 5
/* The C API was misused: NULL handle, bad option, index out of range, wrong
 * accessor for the column type, blocking call on a callback thread. */
#define CQL_ERR_INVALID_ARGUMENT 6
/* Row accessor only: the cell is NULL (check with cql_rows_is_null). */
#define CQL_ERR_NULL 7
/* Anything else: server error, protocol error, driver bug (a caught panic). */
#define CQL_ERR_OTHER 8

/* ---- consistency levels (not the protocol's numbering: 0 is "default") --- */

#define CQL_CL_DEFAULT 0 /* the client's default_consistency */
#define CQL_CL_ONE 1
#define CQL_CL_TWO 2
#define CQL_CL_THREE 3
#define CQL_CL_QUORUM 4
#define CQL_CL_ALL 5
#define CQL_CL_LOCAL_QUORUM 6
#define CQL_CL_EACH_QUORUM 7
#define CQL_CL_LOCAL_ONE 10
#define CQL_CL_ANY 16

/* ---- handles ------------------------------------------------------------ */

typedef struct cql_client cql_client;     /* a session to one cluster */
typedef struct cql_prepared cql_prepared; /* immutable; shareable across threads */
typedef struct cql_rows cql_rows;         /* one page of results; single owner */

/* ---- connect ------------------------------------------------------------ */

typedef struct cql_connect_options {
  /* Contact points, "host" (port 9042) or "host:port". At least one must be
   * reachable; the rest of the cluster is discovered. */
  const char* const* hosts;
  size_t host_count;
  /* Prefer replicas and coordinators in this data center, and never fail
   * over to another DC. NULL or "": no preference (single-DC clusters). */
  const char* local_dc;
  /* PasswordAuthenticator credentials; both NULL for none. */
  const char* username;
  const char* password;
  /* Per-connection setup timeout, and the bound on cql_connect as a whole
   * (4x this). <= 0: 5000 ms. */
  int64_t connect_timeout_ms;
  /* Default per-request deadline, covering all retries. <= 0: 5000 ms. */
  int64_t request_timeout_ms;
  /* CQL_CL_*; CQL_CL_DEFAULT means LOCAL_QUORUM. */
  int32_t default_consistency;
  /* Retry budget: retries may add at most this percentage of requests (plus
   * a small reserve of 10 for quiet periods). 0: 10%. Negative: never retry. */
  int32_t retry_percent;
  /* Requests in flight at once; cql_execute beyond it fails with
   * CQL_ERR_UNAVAILABLE. <= 0: 8192. */
  int32_t max_in_flight;
} cql_connect_options;

/* Connects to the cluster (blocking). On CQL_OK stores a new client in *out,
 * to be freed with cql_client_free. Unreachable hosts give
 * CQL_ERR_UNAVAILABLE, bad credentials CQL_ERR_BAD_CREDENTIALS. */
int32_t cql_connect(const cql_connect_options* options, cql_client** out, char** error);

/* Rejects new requests, waits until every callback of this client has
 * returned, then closes the session. NULL is a no-op. Returns
 * CQL_ERR_INVALID_ARGUMENT (and leaks the client rather than deadlock) when
 * called from a callback thread. */
int32_t cql_client_free(cql_client* client);

/* ---- statements --------------------------------------------------------- */

/* Prepares `cql` (blocking; meant for startup). `idempotent` != 0 allows
 * retrying the statement after errors that leave its outcome unknown (e.g. a
 * broken connection); set it only if executing twice is harmless, e.g.
 * inserts with USING TIMESTAMP. timeout_ms <= 0: the request timeout. */
int32_t cql_prepare(cql_client* client, const char* cql, int32_t idempotent, int64_t timeout_ms,
                    cql_prepared** out, char** error);

/* NULL is a no-op. Safe while executions of it are in flight. */
void cql_prepared_free(cql_prepared* prepared);

/* Runs one unprepared statement, discarding any rows (blocking; meant for
 * schema setup: DDL waits for schema agreement). timeout_ms <= 0: 30000. */
int32_t cql_query(cql_client* client, const char* cql, int64_t timeout_ms, char** error);

/* ---- execution ---------------------------------------------------------- */

#define CQL_VALUE_NULL 0      /* writes a tombstone; prefer UNSET for absent */
#define CQL_VALUE_UNSET 1     /* leaves the column untouched */
#define CQL_VALUE_BIGINT 2    /* i64 */
#define CQL_VALUE_INT 3       /* i64, must fit in 32 bits */
#define CQL_VALUE_TEXT 4      /* ptr/len, UTF-8 */
#define CQL_VALUE_BLOB 5      /* ptr/len */
#define CQL_VALUE_TIMESTAMP 6 /* i64, milliseconds since the Unix epoch */
#define CQL_VALUE_BOOLEAN 7   /* i64, 0 = false */

/* One bound value. The kind must match the column's type (else the request
 * fails with CQL_ERR_INVALID_QUERY). Memory is copied by cql_execute. */
typedef struct cql_value {
  int32_t kind;
  int64_t i64;
  const uint8_t* ptr;
  size_t len;
} cql_value;

typedef struct cql_exec_options {
  int32_t consistency; /* CQL_CL_*; CQL_CL_DEFAULT: the client's default */
  int64_t timeout_ms;  /* <= 0: the client's request timeout */
  int32_t page_size;   /* <= 0: no paging, every row in one result */
  /* From cql_rows_paging_state of the previous page; NULL/0: first page.
   * Copied by cql_execute. Valid only with the same statement and values. */
  const uint8_t* paging_state;
  size_t paging_state_len;
} cql_exec_options;

/* Called exactly once per accepted request, on a shim runtime thread.
 * code == CQL_OK: `rows` is non-NULL (zero rows for statements without a
 * result) and owned by the callee, who frees it with cql_rows_free; `msg` is
 * NULL. Otherwise `rows` is NULL and `msg` describes the error; it is valid
 * only during the call. The callback must not unwind (C++: noexcept). */
typedef void (*cql_done_cb)(void* user, int32_t code, cql_rows* rows, const char* msg);

/* Submits `prepared` with `values` (count must match its markers). `options`
 * may be NULL for defaults. Returns CQL_OK when accepted: `callback` is then
 * called exactly once, on a runtime thread, never from within cql_execute
 * itself (it may run before cql_execute returns) — bad values, overload
 * (max_in_flight) and query errors all arrive through it. Returns an error code without ever
 * calling back only for a NULL client/prepared/callback, or a client being freed. */
int32_t cql_execute(cql_client* client, const cql_prepared* prepared, const cql_value* values,
                    size_t value_count, const cql_exec_options* options, cql_done_cb callback,
                    void* user);

/* ---- results ------------------------------------------------------------ */

size_t cql_rows_count(const cql_rows* rows);
size_t cql_rows_column_count(const cql_rows* rows);
/* Column name, not NUL-terminated; valid until cql_rows_free. */
int32_t cql_rows_column_name(const cql_rows* rows, size_t column, const char** name, size_t* len);
/* *is_null = 1 if the cell is NULL (or an empty value), else 0. */
int32_t cql_rows_is_null(const cql_rows* rows, size_t row, size_t column, int32_t* is_null);
/* bigint, counter, timestamp (ms) and int cells. */
int32_t cql_rows_i64(const cql_rows* rows, size_t row, size_t column, int64_t* out);
/* int cells only. */
int32_t cql_rows_i32(const cql_rows* rows, size_t row, size_t column, int32_t* out);
/* boolean cells. */
int32_t cql_rows_bool(const cql_rows* rows, size_t row, size_t column, int32_t* out);
/* text, ascii and blob cells; the bytes stay valid until cql_rows_free. */
int32_t cql_rows_bytes(const cql_rows* rows, size_t row, size_t column, const uint8_t** data,
                       size_t* len);
/* The state to pass to fetch the next page; *len == 0 (and *data NULL) when
 * this was the last page. Valid until cql_rows_free. */
int32_t cql_rows_paging_state(const cql_rows* rows, const uint8_t** data, size_t* len);
/* NULL is a no-op. */
void cql_rows_free(cql_rows* rows);

/* Retries the budget has refused so far (a health signal: non-zero means
 * the cluster was failing often enough to exhaust it). */
uint64_t cql_client_retries_denied(const cql_client* client);

/* Frees a message returned through a `char** error`. NULL is a no-op. */
void cql_string_free(char* s);

/* Static string "cql_shim <version> (scylla <version>)". */
const char* cql_shim_version(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* DS_STORAGE_CASSANDRA_CQL_SHIM_H_ */
