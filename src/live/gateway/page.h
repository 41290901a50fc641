// The chat page the gateway serves at `/`: plain HTML and JavaScript, no
// build step, nothing fetched from outside the gateway. It shows one channel
// (?channel=<id>, default 1): loads the newest messages with the REST API,
// then follows the channel over EventSource from the newest id it shows, and
// sends with POST. Messages are kept by id (a re-sent late message is
// dropped) and shown in id order; late ones are marked.
//
// For tests the page exposes its state on <body>: data-state is
// "loading" | "live" | "reconnecting" | "reload", data-count the number of
// messages shown.
#pragma once

#include <memory>
#include <string>

namespace ds::live {

// The page's bytes (built once).
std::shared_ptr<const std::string> ChatPage();

}  // namespace ds::live
