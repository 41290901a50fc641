#!/usr/bin/env python3
"""The gateway's chat page (GET /) in headless Chromium, with real processes.

Starts ds-node and ds-gateway (binaries from $DS_BIN_DIR) on 127.0.0.1, port 0,
and Chromium (Debian's `chromium`, installed by scripts/test) driven over the
DevTools protocol on a pipe. Checks that:
  1. the page loads the channel's newest messages and goes live (EventSource);
  2. a message another client sends (REST POST) appears on the page;
  3. a message typed into the page is stored (read back over REST) and shown once.
Keeps a screenshot at $DS_ARTIFACT_DIR/chat_page.png (default: ./artifacts).

Exit status 0 pass, 1 fail, 77 skipped (no Chromium on this machine).
"""
import base64
import fcntl
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

DEADLINE_S = 30


def log(*args):
    print("chat_page_test:", *args, flush=True)


def wait_for(predicate, what, timeout=DEADLINE_S, every=0.05):
    """Polls `predicate` (a condition another process makes true) until it holds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def read_ports(path, process):
    def ready():
        if process.poll() is not None:
            raise AssertionError(f"{process.args[0]} exited with {process.returncode}")
        try:
            with open(path) as f:
                text = f.read()
            return [int(x) for x in text.split()] if text.endswith("\n") else None
        except FileNotFoundError:
            return None
    return wait_for(ready, f"port file {path}")


def http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as res:
        return res.status, json.loads(res.read() or b"null")


class DevTools:
    """The Chrome DevTools protocol over --remote-debugging-pipe (fd 3 in, fd 4 out)."""

    def __init__(self, chromium, profile, log_path):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        self._log = open(log_path, "wb")

        def child_fds():
            # Chromium reads commands on fd 3 and writes replies on fd 4.
            a = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.process = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", "--no-default-browser-check", "--disable-dev-shm-usage",
             f"--user-data-dir={profile}", "--remote-debugging-pipe", "--window-size=1000,720",
             "about:blank"],
            stdout=self._log, stderr=subprocess.STDOUT, preexec_fn=child_fds, close_fds=False)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next = 0
        self._buffer = b""
        self.session = None

    def call(self, method, params=None, session=True):
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _read(self):
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise AssertionError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result.get("result", {}).get("value")

    def close(self):
        try:
            self.call("Browser.close", session=False)
        except Exception:  # already gone
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def main():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        log("SKIP: no chromium on this machine (scripts/test installs it)")
        return 77
    bin_dir = os.environ.get("DS_BIN_DIR", "build/dev/bin")
    artifacts = os.environ.get("DS_ARTIFACT_DIR", "artifacts")
    os.makedirs(artifacts, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="chat_page_test_")
    procs = []
    devtools = None
    try:
        node = subprocess.Popen(
            [f"{bin_dir}/ds-node", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
             "--store", f"{tmp}/chat.db", "--node-id", "1", "--port-file", f"{tmp}/node.port"],
            stdout=open(f"{tmp}/node.log", "wb"), stderr=subprocess.STDOUT)
        procs.append(node)
        grpc_port, _ = read_ports(f"{tmp}/node.port", node)
        gateway = subprocess.Popen(
            [f"{bin_dir}/ds-gateway", "--listen", "127.0.0.1:0", "--nodes",
             f"127.0.0.1:{grpc_port}", "--port-file", f"{tmp}/gateway.port"],
            stdout=open(f"{tmp}/gateway.log", "wb"), stderr=subprocess.STDOUT)
        procs.append(gateway)
        port = read_ports(f"{tmp}/gateway.port", gateway)[0]
        base = f"http://127.0.0.1:{port}"

        def healthy():
            try:
                return urllib.request.urlopen(f"{base}/healthz", timeout=2).status == 200
            except Exception:
                return False
        wait_for(healthy, "gateway /healthz")

        rng = random.Random(42)
        channel = 42
        for i in range(3):
            http("POST", f"{base}/v1/channels/{channel}/messages",
                 {"author_id": "7", "content": f"earlier message {i}",
                  "nonce": str(rng.randrange(1, 1 << 50))})

        devtools = DevTools(chromium, f"{tmp}/profile", f"{tmp}/chromium.log")
        targets = devtools.call("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        devtools.session = devtools.call("Target.attachToTarget",
                                         {"targetId": page["targetId"], "flatten": True},
                                         session=False)["sessionId"]
        devtools.call("Page.enable")
        devtools.call("Runtime.enable")
        devtools.call("Page.navigate", {"url": f"{base}/?channel={channel}"})
        wait_for(lambda: devtools.evaluate(
            "document.body && document.body.dataset.state === 'live' && "
            "document.body.dataset.count === '3'"), "the page to load 3 messages and go live")
        log("page live with 3 messages")

        text = f"hello from another client {rng.randrange(1 << 30)}"
        http("POST", f"{base}/v1/channels/{channel}/messages",
             {"author_id": "8", "content": text, "nonce": str(rng.randrange(1, 1 << 50))})
        shown = ("[...document.querySelectorAll('.msg .text')].map(e => e.textContent)"
                 f".filter(t => t === {json.dumps(text)}).length")
        wait_for(lambda: devtools.evaluate(shown) == 1, "the other client's message on the page")
        log("another client's message appeared live")

        typed = f"typed in the page {rng.randrange(1 << 30)}"
        devtools.evaluate(f"document.querySelector('#send input').value = {json.dumps(typed)};"
                          "document.querySelector('#send button').click(); true")

        def stored():
            _, body = http("GET", f"{base}/v1/channels/{channel}/messages?limit=10")
            return any(m["content"] == typed for m in body["messages"])
        wait_for(stored, "the typed message in the store")
        shown_typed = ("[...document.querySelectorAll('.msg .text')].map(e => e.textContent)"
                       f".filter(t => t === {json.dumps(typed)}).length")
        wait_for(lambda: devtools.evaluate(shown_typed) == 1, "the typed message on the page")
        if devtools.evaluate("document.body.dataset.count") != "5":
            raise AssertionError("the page should show 5 messages, each once")

        shot = devtools.call("Page.captureScreenshot", {"format": "png"})["data"]
        path = os.path.join(artifacts, "chat_page.png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot))
        log(f"PASS (screenshot: {path})")
        return 0
    except AssertionError as e:
        log(f"FAIL: {e}")
        for name in ("node.log", "gateway.log", "chromium.log"):
            p = os.path.join(tmp, name)
            if os.path.exists(p):
                with open(p, "rb") as f:
                    log(f"--- {name} ---\n" + f.read()[-3000:].decode(errors="replace"))
        return 1
    finally:
        if devtools:
            devtools.close()
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
