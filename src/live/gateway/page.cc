#include "live/gateway/page.h"

namespace ds::live {

namespace {

constexpr char kPage[] = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Data Services — live channel</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d232a; background: #f4f5f7; }
  body { margin: 0; display: flex; flex-direction: column; height: 100vh; }
  header { display: flex; gap: .75rem; align-items: center; padding: .75rem 1rem;
           background: #1f3a5f; color: white; }
  header h1 { font-size: 1.05rem; margin: 0; font-weight: 600; }
  header form { display: flex; gap: .4rem; align-items: center; margin-left: auto; }
  header input { width: 9rem; }
  #state { font-size: .8rem; padding: .15rem .5rem; border-radius: 1rem; background: #8892a0; }
  body[data-state="live"] #state { background: #2e8b57; }
  body[data-state="reconnecting"] #state { background: #c47f17; }
  body[data-state="reload"] #state { background: #b03a2e; }
  #log { flex: 1; overflow-y: auto; padding: 1rem; display: flex; flex-direction: column; gap: .35rem; }
  .msg { background: white; border-radius: .5rem; padding: .45rem .7rem; box-shadow: 0 1px 2px #0002;
         max-width: 48rem; }
  .msg .meta { font-size: .72rem; color: #66707c; margin-bottom: .15rem; }
  .msg.late .meta::after { content: " · arrived late"; color: #c47f17; }
  .msg.mine { background: #e3effd; }
  footer form { display: flex; gap: .5rem; padding: .75rem 1rem; background: white;
                border-top: 1px solid #d9dde3; }
  footer input[name=content] { flex: 1; font-size: 1rem; padding: .45rem; }
  button { padding: .4rem .9rem; }
  #error { color: #b03a2e; font-size: .85rem; padding: 0 1rem; }
</style>
</head>
<body data-state="loading" data-count="0">
<header>
  <h1>Data Services · live channel</h1>
  <span id="state">loading</span>
  <form id="pick"><label>channel <input name="channel" inputmode="numeric"></label>
    <button>open</button></form>
</header>
<div id="log" aria-live="polite"></div>
<div id="error"></div>
<footer>
  <form id="send"><input name="content" placeholder="Say something…" maxlength="4000"
    autocomplete="off" required><button>Send</button></form>
</footer>
<script>
"use strict";
const params = new URLSearchParams(location.search);
const channel = /^[1-9][0-9]{0,19}$/.test(params.get("channel") || "") ? params.get("channel") : "1";
const author = localStorage.getItem("ds-author") ||
  String(1 + Math.floor(Math.random() * 1e9));
localStorage.setItem("ds-author", author);
const log = document.getElementById("log");
const byId = new Map();  // message id (string) -> element
let source = null;

document.querySelector("#pick input").value = channel;
document.title = "#" + channel + " · Data Services";

function setState(s) {
  document.body.dataset.state = s;
  document.getElementById("state").textContent = s;
}
function showError(text) { document.getElementById("error").textContent = text || ""; }
function cmpIds(a, b) {  // decimal strings beyond 2^53: compare by length, then text
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
function add(m, late) {
  if (byId.has(m.message_id)) return;  // a re-sent late message, or one the page has
  const el = document.createElement("div");
  el.className = "msg" + (late ? " late" : "") + (m.author_id === author ? " mine" : "");
  el.dataset.id = m.message_id;
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = "author " + m.author_id + " · " + new Date(m.created_at_ms).toLocaleTimeString();
  const text = document.createElement("div");
  text.className = "text";
  text.textContent = m.content;
  el.append(meta, text);
  // Keep id order: walk back from the end (new messages are usually newest).
  let before = null;
  for (let n = log.lastElementChild; n; n = n.previousElementSibling) {
    if (cmpIds(n.dataset.id, m.message_id) < 0) break;
    before = n;
  }
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.insertBefore(el, before);
  byId.set(m.message_id, el);
  document.body.dataset.count = String(byId.size);
  if (atBottom) log.scrollTop = log.scrollHeight;
}
function newest() {
  const last = log.lastElementChild;
  return last ? last.dataset.id : null;
}
async function load() {
  setState("loading");
  const res = await fetch("/v1/channels/" + channel + "/messages?limit=50");
  if (!res.ok) throw new Error("GET messages: HTTP " + res.status);
  const page = await res.json();
  for (const m of page.messages.slice().reverse()) add(m, false);
  follow(newest());
}
function follow(after) {
  if (source) source.close();
  const url = "/v1/channels/" + channel + "/events" + (after ? "?after=" + after : "");
  source = new EventSource(url);
  source.onopen = () => { setState("live"); showError(""); };
  source.onerror = () => setState("reconnecting");  // EventSource retries with Last-Event-ID
  source.onmessage = (e) => { const m = JSON.parse(e.data); add(m, m.late === true); };
  source.addEventListener("reload", () => {
    source.close();
    setState("reload");
    showError("This page fell too far behind: reloading the newest messages.");
    log.replaceChildren(); byId.clear();
    setTimeout(() => load().catch((err) => showError(String(err))), 500);
  });
}
document.getElementById("send").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = e.target.elements.content;
  const content = input.value;
  if (!content) return;
  const nonce = String(1 + Math.floor(Math.random() * 9e15));
  try {
    const res = await fetch("/v1/channels/" + channel + "/messages", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({author_id: author, content, nonce})});
    const body = await res.json();
    if (!res.ok) throw new Error(body.error ? body.error.message : "HTTP " + res.status);
    input.value = "";
    add(body.message, false);  // the live stream will bring it too: kept once
    showError("");
  } catch (err) { showError("send failed: " + err.message); }
});
document.getElementById("pick").addEventListener("submit", (e) => {
  e.preventDefault();
  const c = e.target.elements.channel.value.trim();
  if (/^[1-9][0-9]{0,19}$/.test(c)) location.search = "?channel=" + c;
});
load().catch((err) => { setState("reconnecting"); showError(String(err)); });
</script>
</body>
</html>
)html";

}  // namespace

std::shared_ptr<const std::string> ChatPage() {
  static const auto* page =
      new std::shared_ptr<const std::string>(std::make_shared<const std::string>(kPage));
  return *page;
}

}  // namespace ds::live
