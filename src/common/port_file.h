// Port files: how a process started on port 0 tells scripts and tests which
// ports it got. The file holds one line, "<port> <port>\n" (the serving port,
// then the admin port or 0), and appears atomically (written to PATH.tmp, then
// renamed), so a poller never reads half of it.
//
// Usage:
//   if (!ds::WritePortFile(flags.port_file, grpc_port, admin_port)) { ...error... }
#pragma once

#include <string>

namespace ds {

// True on success.
bool WritePortFile(const std::string& path, int port, int admin_port);

}  // namespace ds
