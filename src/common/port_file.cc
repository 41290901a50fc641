#include "common/port_file.h"

#include <cstdio>
#include <fstream>

namespace ds {

bool WritePortFile(const std::string& path, int port, int admin_port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return false;
    out << port << " " << admin_port << "\n";
    if (!out.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace ds
