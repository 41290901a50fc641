// Tests of the multi-process harness with /bin/sh as the child.
#include "testing/process.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace ds::testing {
namespace {

// True once `pid` is gone or a zombie (killed; not yet reaped by its parent).
bool Dead(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

TEST(ChildProcessTest, ReportsExitCodeAndCapturesOutput) {
  TempDir dir("process_test_");
  auto child =
      ChildProcess::Spawn("/bin/sh", {"-c", "echo hello; echo oops >&2; exit 3"}, dir.File("log"));
  ASSERT_TRUE(child.ok()) << child.status();
  auto exit = (*child)->Wait(absl::Seconds(10));
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->exit_code, 3);
  EXPECT_EQ(exit->signal, 0);
  EXPECT_FALSE(exit->exited_ok());
  EXPECT_EQ((*child)->LogTail(), "hello\noops\n");
  // The result is remembered.
  EXPECT_EQ((*child)->Wait(absl::ZeroDuration())->exit_code, 3);
  EXPECT_FALSE((*child)->Running());
  EXPECT_EQ((*child)->Signal(SIGTERM).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ChildProcessTest, ExecFailureIsAnError) {
  TempDir dir("process_test_");
  auto child = ChildProcess::Spawn(dir.File("no-such-binary"), {}, dir.File("log"));
  ASSERT_FALSE(child.ok());
  EXPECT_NE(child.status().message().find("No such file"), std::string::npos) << child.status();
}

TEST(ChildProcessTest, SignalAndWaitTimeout) {
  TempDir dir("process_test_");
  auto child = ChildProcess::Spawn("/bin/sh", {"-c", "exec sleep 100"}, dir.File("log"));
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_TRUE((*child)->Running());
  auto early = (*child)->Wait(absl::Milliseconds(50));
  EXPECT_EQ(early.status().code(), absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE((*child)->Signal(SIGTERM).ok());
  auto exit = (*child)->Wait(absl::Seconds(10));
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->signal, SIGTERM);
  EXPECT_EQ(exit->ToString().rfind("killed by signal 15", 0), 0u) << exit->ToString();
}

TEST(ChildProcessTest, DestructorKillsTheWholeProcessGroup) {
  TempDir dir("process_test_");
  const std::string pid_file = dir.File("grandchild.pid");
  pid_t child_pid = 0;
  pid_t grandchild_pid = 0;
  {
    auto child =
        ChildProcess::Spawn("/bin/sh",
                            {"-c", "sleep 100 & echo \"$! $!\" > " + pid_file + ".tmp && mv " +
                                       pid_file + ".tmp " + pid_file + "; wait"},
                            dir.File("log"));
    ASSERT_TRUE(child.ok()) << child.status();
    child_pid = (*child)->pid();
    auto pids = WaitForPortFile(pid_file, absl::Seconds(10), child->get());
    ASSERT_TRUE(pids.ok()) << pids.status();
    grandchild_pid = (*pids)[0];
    EXPECT_FALSE(Dead(grandchild_pid));
  }
  EXPECT_TRUE(Dead(child_pid));
  EXPECT_TRUE(PollUntil([&] { return Dead(grandchild_pid); }, absl::Seconds(10)));
}

TEST(WaitForPortFileTest, ReadsACompleteLine) {
  TempDir dir("process_test_");
  auto child = ChildProcess::Spawn(
      "/bin/sh",
      {"-c", "printf '4242 5353\\n' > " + dir.File("p.tmp") + " && mv " + dir.File("p.tmp") + " " +
                 dir.File("p") + " && exec sleep 100"},
      dir.File("log"));
  ASSERT_TRUE(child.ok()) << child.status();
  auto ports = WaitForPortFile(dir.File("p"), absl::Seconds(10), child->get());
  ASSERT_TRUE(ports.ok()) << ports.status();
  EXPECT_EQ(*ports, (std::vector<int>{4242, 5353}));
}

TEST(WaitForPortFileTest, FailsFastWhenTheProcessDies) {
  TempDir dir("process_test_");
  auto child = ChildProcess::Spawn("/bin/sh", {"-c", "echo cannot bind; exit 1"}, dir.File("log"));
  ASSERT_TRUE(child.ok()) << child.status();
  const absl::Time start = absl::Now();
  auto ports = WaitForPortFile(dir.File("never"), absl::Seconds(30), child->get());
  EXPECT_EQ(ports.status().code(), absl::StatusCode::kFailedPrecondition) << ports.status();
  EXPECT_NE(ports.status().message().find("cannot bind"), std::string::npos) << ports.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(WaitForPortFileTest, TimesOut) {
  TempDir dir("process_test_");
  auto ports = WaitForPortFile(dir.File("never"), absl::Milliseconds(30));
  EXPECT_EQ(ports.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(HttpTest, ConnectionRefusedIsUnavailable) {
  // A port that was free a moment ago and has no listener now.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  auto res = HttpGet(ntohs(addr.sin_port), "/healthz", absl::Seconds(2));
  EXPECT_EQ(res.status().code(), absl::StatusCode::kUnavailable) << res.status();
}

TEST(SumMetricTest, SumsOverMatchingLabelSets) {
  const std::string text =
      "# HELP ds_requests_total Requests.\n"
      "# TYPE ds_requests_total counter\n"
      "ds_requests_total{method=\"GetMessages\"} 7\n"
      "ds_requests_total{method=\"GetMessage\"} 3\n"
      "ds_requests_total{method=\"SendMessage\",extra=\"a,b}\\\"c\"} 2\n"
      "ds_requests_total_created{method=\"GetMessages\"} 1700000000\n"
      "ds_responses_total{method=\"GetMessages\",code=\"OK\"} 5\n"
      "ds_responses_total{method=\"GetMessages\",code=\"UNAVAILABLE\"} 2\n"
      "ds_wait_seconds_bucket{le=\"+Inf\"} 9\n"
      "ds_inflight_waiters 4 1700000000000\n"
      "ds_broken{method=\"x} 100\n";
  EXPECT_EQ(SumMetric(text, "ds_requests_total"), 12);
  EXPECT_EQ(SumMetric(text, "ds_requests_total", {{"method", "GetMessages"}}), 7);
  EXPECT_EQ(SumMetric(text, "ds_requests_total", {{"extra", "a,b}\"c"}}), 2);
  EXPECT_EQ(SumMetric(text, "ds_responses_total", {{"method", "GetMessages"}}), 7);
  EXPECT_EQ(SumMetric(text, "ds_responses_total", {{"code", "OK"}}), 5);
  EXPECT_EQ(SumMetric(text, "ds_inflight_waiters"), 4);
  EXPECT_EQ(SumMetric(text, "ds_wait_seconds"), 0);
  EXPECT_EQ(SumMetric(text, "ds_broken"), 0);
  EXPECT_EQ(SumMetric(text, "ds_requests_total", {{"method", "Nope"}}), 0);
}

}  // namespace
}  // namespace ds::testing
