#include "testing/process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tools/loadgen/prometheus_text.h"

namespace ds::testing {

namespace fs = std::filesystem;

// --- ExitStatus / ChildProcess -------------------------------------------------

std::string ExitStatus::ToString() const {
  if (signal != 0) return absl::StrCat("killed by signal ", signal, " (", strsignal(signal), ")");
  return absl::StrCat("exit ", exit_code);
}

namespace {

ExitStatus FromWaitStatus(int status) {
  ExitStatus out;
  if (WIFEXITED(status)) {
    out.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    out.signal = WTERMSIG(status);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(
    const std::string& binary, const std::vector<std::string>& args, const std::string& log_path) {
  // Everything the child needs is prepared before fork(): between fork and
  // exec only async-signal-safe calls are allowed (the parent has threads).
  std::vector<std::string> storage;
  storage.reserve(args.size() + 1);
  storage.push_back(binary);
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);

  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    return absl::InternalError(absl::StrCat("open ", log_path, ": ", strerror(errno)));
  }
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  // The child reports an exec failure's errno through this pipe; a successful
  // exec closes it (O_CLOEXEC), so the parent's read returns 0.
  int report[2];
  if (null_fd < 0 || pipe2(report, O_CLOEXEC) != 0) {
    const int err = errno;
    close(log_fd);
    if (null_fd >= 0) close(null_fd);
    return absl::InternalError(absl::StrCat("pipe: ", strerror(err)));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    // Child. Own process group, so Signal() and the destructor reach anything
    // the binary starts; killed if the spawning thread dies.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl
    dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    // The test process may block or ignore signals (gRPC ignores SIGPIPE);
    // the binary starts with the defaults.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaction(sig, &dfl, nullptr);
    execv(argv[0], argv.data());
    const int err = errno;
    (void)!write(report[1], &err, sizeof(err));
    _exit(127);
  }
  const int fork_errno = errno;
  close(report[1]);
  close(log_fd);
  close(null_fd);
  if (pid < 0) {
    close(report[0]);
    return absl::InternalError(absl::StrCat("fork: ", strerror(fork_errno)));
  }
  int exec_errno = 0;
  ssize_t n;
  do {
    n = read(report[0], &exec_errno, sizeof(exec_errno));
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == static_cast<ssize_t>(sizeof(exec_errno))) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return absl::InternalError(absl::StrCat("exec ", binary, ": ", strerror(exec_errno)));
  }
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, log_path));
}

ChildProcess::~ChildProcess() {
  if (exit_.has_value()) return;
  kill(-pid_, SIGKILL);
  int status;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

absl::Status ChildProcess::Signal(int sig) {
  if (exit_.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("process ", pid_, " already ended: ", exit_->ToString()));
  }
  if (kill(-pid_, sig) != 0) {
    return absl::InternalError(absl::StrCat("kill(-", pid_, ", ", sig, "): ", strerror(errno)));
  }
  return absl::OkStatus();
}

bool ChildProcess::TryReap() {
  if (exit_.has_value()) return true;
  int status;
  pid_t r;
  do {
    r = waitpid(pid_, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    exit_ = FromWaitStatus(status);
    // Anything the binary left in its group goes with it.
    kill(-pid_, SIGKILL);
    return true;
  }
  return false;
}

absl::StatusOr<ExitStatus> ChildProcess::Wait(absl::Duration timeout) {
  if (PollUntil([this] { return TryReap(); }, timeout, absl::Milliseconds(2))) return *exit_;
  return absl::DeadlineExceededError(
      absl::StrCat("process ", pid_, " still running after ", absl::FormatDuration(timeout)));
}

bool ChildProcess::Running() { return !TryReap(); }

std::string ChildProcess::LogTail(size_t max_bytes) const {
  std::ifstream in(log_path_, std::ios::binary);
  std::stringstream all;
  all << in.rdbuf();
  std::string text = all.str();
  if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
  return text;
}

// --- Waiting ---------------------------------------------------------------

bool PollUntil(const std::function<bool()>& predicate, absl::Duration timeout,
               absl::Duration every) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (predicate()) return true;
    if (absl::Now() >= deadline) return false;
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(every));
  }
}

absl::StatusOr<std::vector<int>> WaitForPortFile(const std::string& path, absl::Duration timeout,
                                                 ChildProcess* process) {
  std::vector<int> ports;
  std::string exited;
  const bool done = PollUntil(
      [&] {
        std::ifstream in(path);
        if (in) {
          std::stringstream text;
          text << in.rdbuf();
          const std::string s = text.str();
          if (!s.empty() && s.back() == '\n') {
            ports.clear();
            bool ok = true;
            for (absl::string_view field :
                 absl::StrSplit(s.substr(0, s.size() - 1), ' ', absl::SkipEmpty())) {
              int port;
              if (!absl::SimpleAtoi(field, &port)) ok = false;
              ports.push_back(port);
            }
            if (ok && !ports.empty()) return true;
          }
        }
        if (process != nullptr && !process->Running()) {
          exited = process->Wait(absl::ZeroDuration())->ToString();
          return true;
        }
        return false;
      },
      timeout, absl::Milliseconds(5));
  if (!exited.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "process ended (", exited, ") before writing ", path, "; log:\n", process->LogTail()));
  }
  if (!done) {
    return absl::DeadlineExceededError(
        absl::StrCat("no port file ", path, " after ", absl::FormatDuration(timeout),
                     process != nullptr ? absl::StrCat("; log:\n", process->LogTail()) : ""));
  }
  return ports;
}

// --- Binaries and commands -------------------------------------------------

std::string BinaryPath(std::string_view name) {
  const char* dir = getenv("DS_BIN_DIR");
  const fs::path base = dir != nullptr && *dir != '\0'
                            ? fs::path(dir)
                            : fs::read_symlink("/proc/self/exe").parent_path();
  return (base / std::string(name)).string();
}

CommandResult RunCommand(const std::string& shell_command) {
  CommandResult result;
  FILE* pipe = popen(shell_command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) result.out.append(buf, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// --- TempDir ---------------------------------------------------------------

TempDir::TempDir(std::string_view prefix) {
  const char* tmp = getenv("TMPDIR");
  std::string pattern = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/",
                                     absl::string_view(prefix.data(), prefix.size()), "XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    // Asserting is right here: a test cannot run without its directory, and
    // this is test-only code.
    abort();
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  if (keep_) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

// --- Prometheus --------------------------------------------------------------

double SumMetric(std::string_view prometheus_text, std::string_view name,
                 const std::map<std::string, std::string>& labels) {
  loadgen::MetricFamilySamples samples;
  const absl::string_view text(prometheus_text.data(), prometheus_text.size());
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    absl::StatusOr<loadgen::PrometheusSample> sample = loadgen::ParsePrometheusSample(line);
    if (sample.ok()) samples.push_back(*std::move(sample));  // skips a line that does not parse
  }
  return loadgen::SumMetric(samples, absl::string_view(name.data(), name.size()), labels);
}

}  // namespace ds::testing
