#!/usr/bin/env python3
"""Reads clang-tidy output (stdin) and decides what scripts/tidy reports.

libstdc++'s std::mutex and std::lock_guard carry no thread-safety
annotations, so for a member ABSL_GUARDED_BY a std::mutex clang's analysis
reports every access as unlocked, even under a lock_guard. Those reports say
nothing about the code. This filter drops a thread-safety-analysis finding
whose mutex is declared as a std:: mutex type in the finding's file or in a
header of the same directory, and lists those files (convert them to
ds::Mutex, common/mutex.h, to have them checked) without failing. Every
other finding, and every compiler error, is reported. Compiler warnings other
than thread safety are left to the build's own flags. Exit status 1 when a
finding remains.
"""
import glob
import os
import re
import sys

DIAG = re.compile(r"^(?P<path>[^:\s]+):(?P<line>\d+):\d+: (?P<kind>warning|error): "
                  r"(?P<msg>.*?)(?: \[(?P<check>[^\]]+)\])?$")
MUTEX = re.compile(r"mutex '(?:[\w:]+(?:\.|->))?(?P<name>\w+)'")
_std_mutexes = {}


def std_mutexes(path):
    """Names declared as std::*mutex in path's directory (.h) and path itself."""
    real = os.path.realpath(path)
    if real not in _std_mutexes:
        names = set()
        for f in set(glob.glob(os.path.join(os.path.dirname(real), "*.h")) + [real]):
            try:
                text = open(f, encoding="utf-8", errors="replace").read()
            except OSError:
                continue
            names.update(re.findall(r"std::(?:recursive_|shared_|timed_)?mutex\s+(\w+)", text))
        _std_mutexes[real] = names
    return _std_mutexes[real]


def main(root):
    findings, unchecked = set(), set()
    for raw in sys.stdin:
        m = DIAG.match(raw.rstrip("\n"))
        if not m:
            continue
        check = m.group("check") or ""
        path = m.group("path")
        if check.startswith("clang-diagnostic-") and "thread-safety" not in check and \
                not check.startswith("clang-diagnostic-error"):
            continue
        if "thread-safety" in check:
            mutex = MUTEX.search(m.group("msg"))
            if "thread-safety-attributes" in check or (
                    mutex and mutex.group("name") in std_mutexes(path)):
                unchecked.add(os.path.realpath(path).replace(root, ""))
                continue
        findings.add(f"{os.path.realpath(path).replace(root, '')}:{m.group('line')}: "
                     f"{m.group('msg')} [{check}]")
    if unchecked:
        print(f"thread-safety annotations clang cannot check (a std::mutex; use ds::Mutex) "
              f"in {len(unchecked)} files:", file=sys.stderr)
        for f in sorted(unchecked):
            print(f"  {f}", file=sys.stderr)
    for f in sorted(findings):
        print(f)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(os.path.realpath(sys.argv[1]).rstrip("/") + "/"))
