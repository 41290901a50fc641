#include "storage/cassandra/cql_client.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cql_shim.h"

namespace ds::storage::cassandra {
namespace {

static_assert(static_cast<int32_t>(CqlValue::kNull) == CQL_VALUE_NULL);
static_assert(static_cast<int32_t>(CqlValue::kUnset) == CQL_VALUE_UNSET);
static_assert(static_cast<int32_t>(CqlValue::kBigInt) == CQL_VALUE_BIGINT);
static_assert(static_cast<int32_t>(CqlValue::kInt) == CQL_VALUE_INT);
static_assert(static_cast<int32_t>(CqlValue::kText) == CQL_VALUE_TEXT);
static_assert(static_cast<int32_t>(CqlValue::kBlob) == CQL_VALUE_BLOB);
static_assert(static_cast<int32_t>(CqlValue::kTimestamp) == CQL_VALUE_TIMESTAMP);
static_assert(static_cast<int32_t>(CqlValue::kBoolean) == CQL_VALUE_BOOLEAN);
static_assert(static_cast<int32_t>(Consistency::kDefault) == CQL_CL_DEFAULT);
static_assert(static_cast<int32_t>(Consistency::kOne) == CQL_CL_ONE);
static_assert(static_cast<int32_t>(Consistency::kQuorum) == CQL_CL_QUORUM);
static_assert(static_cast<int32_t>(Consistency::kAll) == CQL_CL_ALL);
static_assert(static_cast<int32_t>(Consistency::kLocalQuorum) == CQL_CL_LOCAL_QUORUM);
static_assert(static_cast<int32_t>(Consistency::kLocalOne) == CQL_CL_LOCAL_ONE);
static_assert(static_cast<int32_t>(Consistency::kAny) == CQL_CL_ANY);

// Debian's Abseil has its own string_view; our API speaks std::string_view.
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Milliseconds for the C API, where <= 0 means "the default".
int64_t ToMillis(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return 0;
  // Round sub-millisecond deadlines up: 0 would silently mean "default".
  return std::max<int64_t>(1, absl::ToInt64Milliseconds(d));
}

// Takes ownership of a message returned through a `char** error`.
std::string TakeMessage(char* message) {
  if (message == nullptr) return {};
  std::string text(message);
  cql_string_free(message);
  return text;
}

// Status of a row accessor's result code.
absl::Status AccessorStatus(int32_t code, size_t row, size_t column) {
  switch (code) {
    case CQL_OK:
      return absl::OkStatus();
    case CQL_ERR_NULL:
      return absl::FailedPreconditionError(absl::StrCat("cell (", row, ", ", column, ") is null"));
    default:
      return absl::InternalError(
          absl::StrCat("cell (", row, ", ", column, ") does not exist or has another type"));
  }
}

// Owns the user's callback between cql_execute and its completion.
struct PendingCall {
  CqlClient::Callback done;
};

// Hands a callback its result. Nothing may unwind out of here: we are either
// inside a Rust frame (the shim's runtime) or in Execute's error path.
void Complete(std::unique_ptr<PendingCall> call, absl::StatusOr<Rows> result) noexcept {
  try {
    call->done(std::move(result));
    call.reset();  // The callback's captures are destroyed here, also guarded.
  } catch (const std::exception& e) {
    std::fprintf(stderr, "CqlClient: callback threw, exception dropped: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "CqlClient: callback threw, exception dropped\n");
  }
}

}  // namespace

absl::Status StatusFromCqlCode(int32_t code, std::string_view message) {
  switch (code) {
    case CQL_OK:
      return absl::OkStatus();
    case CQL_ERR_TIMEOUT:
      return absl::DeadlineExceededError(Absl(message));
    case CQL_ERR_UNAVAILABLE:
      return absl::UnavailableError(Absl(message));
    case CQL_ERR_INVALID_QUERY:
    case CQL_ERR_INVALID_ARGUMENT:
      return absl::InvalidArgumentError(Absl(message));
    case CQL_ERR_UNAUTHORIZED:
      return absl::PermissionDeniedError(Absl(message));
    case CQL_ERR_BAD_CREDENTIALS:
      return absl::UnauthenticatedError(Absl(message));
    default:
      return absl::InternalError(Absl(message));
  }
}

// ---- Rows ----------------------------------------------------------------

void Rows::Deleter::operator()(cql_rows* rows) const { cql_rows_free(rows); }

size_t Rows::size() const { return cql_rows_count(rows_.get()); }

size_t Rows::column_count() const { return cql_rows_column_count(rows_.get()); }

std::string_view Rows::ColumnName(size_t column) const {
  const char* name = nullptr;
  size_t len = 0;
  if (cql_rows_column_name(rows_.get(), column, &name, &len) != CQL_OK) return {};
  return std::string_view(name, len);
}

bool Rows::IsNull(size_t row, size_t column) const {
  int32_t is_null = 0;
  return cql_rows_is_null(rows_.get(), row, column, &is_null) == CQL_OK && is_null != 0;
}

absl::StatusOr<int64_t> Rows::GetInt64(size_t row, size_t column) const {
  int64_t value = 0;
  absl::Status status = AccessorStatus(cql_rows_i64(rows_.get(), row, column, &value), row, column);
  if (!status.ok()) return status;
  return value;
}

absl::StatusOr<int32_t> Rows::GetInt32(size_t row, size_t column) const {
  int32_t value = 0;
  absl::Status status = AccessorStatus(cql_rows_i32(rows_.get(), row, column, &value), row, column);
  if (!status.ok()) return status;
  return value;
}

absl::StatusOr<bool> Rows::GetBool(size_t row, size_t column) const {
  int32_t value = 0;
  absl::Status status =
      AccessorStatus(cql_rows_bool(rows_.get(), row, column, &value), row, column);
  if (!status.ok()) return status;
  return value != 0;
}

absl::StatusOr<std::string_view> Rows::GetBytes(size_t row, size_t column) const {
  const uint8_t* data = nullptr;
  size_t len = 0;
  absl::Status status =
      AccessorStatus(cql_rows_bytes(rows_.get(), row, column, &data, &len), row, column);
  if (!status.ok()) return status;
  return std::string_view(reinterpret_cast<const char*>(data), len);
}

std::string_view Rows::paging_state() const {
  const uint8_t* data = nullptr;
  size_t len = 0;
  if (cql_rows_paging_state(rows_.get(), &data, &len) != CQL_OK || len == 0) return {};
  return std::string_view(reinterpret_cast<const char*>(data), len);
}

// ---- PreparedStatement ---------------------------------------------------

void PreparedStatement::Deleter::operator()(cql_prepared* prepared) const {
  cql_prepared_free(prepared);
}

// ---- CqlClient -----------------------------------------------------------

absl::StatusOr<std::unique_ptr<CqlClient>> CqlClient::Connect(const CqlClientOptions& options) {
  if (options.hosts.empty()) return absl::InvalidArgumentError("CqlClient: no hosts");
  std::vector<const char*> hosts;
  hosts.reserve(options.hosts.size());
  for (const std::string& host : options.hosts) hosts.push_back(host.c_str());

  cql_connect_options c{};
  c.hosts = hosts.data();
  c.host_count = hosts.size();
  c.local_dc = options.local_dc.empty() ? nullptr : options.local_dc.c_str();
  c.username = options.username.empty() ? nullptr : options.username.c_str();
  c.password = options.password.empty() ? nullptr : options.password.c_str();
  c.connect_timeout_ms = ToMillis(options.connect_timeout);
  c.request_timeout_ms = ToMillis(options.request_timeout);
  c.default_consistency = static_cast<int32_t>(options.default_consistency);
  // The C API reads 0 as "default" and < 0 as "never retry".
  c.retry_percent = options.retry_percent > 0 ? options.retry_percent : -1;
  c.max_in_flight = options.max_in_flight;

  cql_client* client = nullptr;
  char* error = nullptr;
  int32_t code = cql_connect(&c, &client, &error);
  if (code != CQL_OK) return StatusFromCqlCode(code, TakeMessage(error));
  return std::unique_ptr<CqlClient>(new CqlClient(client));
}

CqlClient::~CqlClient() {
  if (cql_client_free(client_) != CQL_OK) {
    std::fprintf(stderr,
                 "CqlClient: destroyed on a driver callback thread; the session is leaked\n");
  }
}

absl::StatusOr<PreparedStatement> CqlClient::Prepare(std::string_view cql, bool idempotent,
                                                     absl::Duration timeout) {
  std::string text(cql);
  cql_prepared* prepared = nullptr;
  char* error = nullptr;
  int32_t code =
      cql_prepare(client_, text.c_str(), idempotent ? 1 : 0, ToMillis(timeout), &prepared, &error);
  if (code != CQL_OK) {
    return StatusFromCqlCode(code,
                             absl::StrCat("prepare \"", Absl(cql), "\": ", TakeMessage(error)));
  }
  return PreparedStatement(prepared, std::move(text), idempotent);
}

absl::Status CqlClient::Query(std::string_view cql, absl::Duration timeout) {
  std::string text(cql);
  char* error = nullptr;
  int32_t code = cql_query(client_, text.c_str(), ToMillis(timeout), &error);
  if (code == CQL_OK) return absl::OkStatus();
  return StatusFromCqlCode(code, absl::StrCat("query \"", Absl(cql), "\": ", TakeMessage(error)));
}

void CqlClient::Execute(const PreparedStatement& statement, absl::Span<const CqlValue> values,
                        const ExecuteOptions& options, Callback done) {
  // cql_value is a plain C struct; build the array on the stack for the
  // common small case. The shim copies everything before returning.
  constexpr size_t kInline = 16;
  cql_value inline_values[kInline];
  std::vector<cql_value> heap_values;
  cql_value* c_values = inline_values;
  if (values.size() > kInline) {
    heap_values.resize(values.size());
    c_values = heap_values.data();
  }
  for (size_t i = 0; i < values.size(); ++i) {
    const CqlValue& v = values[i];
    c_values[i] = cql_value{
        .kind = static_cast<int32_t>(v.kind()),
        .i64 = v.integer(),
        .ptr = reinterpret_cast<const uint8_t*>(v.bytes().data()),
        .len = v.bytes().size(),
    };
  }
  cql_exec_options c_options{};
  c_options.consistency = static_cast<int32_t>(options.consistency);
  c_options.timeout_ms = ToMillis(options.timeout);
  c_options.page_size = options.page_size;
  c_options.paging_state = reinterpret_cast<const uint8_t*>(options.paging_state.data());
  c_options.paging_state_len = options.paging_state.size();

  auto call = std::make_unique<PendingCall>(PendingCall{std::move(done)});
  auto on_done = [](void* user, int32_t code, cql_rows* rows, const char* msg) noexcept {
    std::unique_ptr<PendingCall> owned(static_cast<PendingCall*>(user));
    if (code == CQL_OK) {
      Complete(std::move(owned), Rows(rows));
    } else {
      Complete(std::move(owned), StatusFromCqlCode(code, msg == nullptr ? "" : msg));
    }
  };
  PendingCall* raw = call.get();
  int32_t code = cql_execute(client_, statement.prepared_.get(), c_values, values.size(),
                             &c_options, on_done, raw);
  if (code == CQL_OK) {
    call.release();  // Owned by the shim until on_done runs.
    return;
  }
  // Not accepted: the shim will never call back (client closing, or NULL
  // handles, which a moved-from PreparedStatement would have).
  Complete(std::move(call), StatusFromCqlCode(code, "CqlClient: request not accepted"));
}

absl::StatusOr<Rows> CqlClient::ExecuteSync(const PreparedStatement& statement,
                                            absl::Span<const CqlValue> values,
                                            const ExecuteOptions& options) {
  std::promise<absl::StatusOr<Rows>> promise;
  std::future<absl::StatusOr<Rows>> future = promise.get_future();
  Execute(statement, values, options,
          [&promise](absl::StatusOr<Rows> result) { promise.set_value(std::move(result)); });
  return future.get();
}

uint64_t CqlClient::retries_denied() const { return cql_client_retries_denied(client_); }

}  // namespace ds::storage::cassandra
