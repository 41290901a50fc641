# Shared helpers for the project's scripts. Source it; do not run it.
# shellcheck shell=bash

DS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DS_BUILD_DIR="${DS_BUILD_DIR:-$DS_ROOT/build/dev}"
DS_JOBS="${DS_JOBS:-$(nproc)}"

# Builds of several clones on one machine (CI clones afresh) share caches:
# ccache keyed on paths relative to the checkout, and one cargo target dir.
export CCACHE_BASEDIR="$DS_ROOT"
export CCACHE_NOHASHDIR=true
export DS_CARGO_TARGET_DIR="${DS_CARGO_TARGET_DIR:-$HOME/.cache/data-services/cargo-target}"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# Debian packages the C++ build needs (see ../shared/notes/cpp-toolchain.md).
DS_APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache lld curl
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libsqlite3-dev prometheus-cpp-dev libspdlog-dev libcli11-dev nlohmann-json3-dev
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libjwt-dev libssl-dev openssl
)

# ensure_apt_packages PKG...: installs whichever are missing; a no-op (no apt
# at all) when everything is there.
ensure_apt_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing ${#missing[@]} missing packages: ${missing[*]}"
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

ensure_build_deps() {
  ensure_apt_packages "${DS_APT_PACKAGES[@]}"
  # The Cassandra backend's CQL client is Rust (built by CMake through cargo).
  if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
}

# The checkers of scripts/check and scripts/tidy (clang-format, clang-tidy and
# clang's front end, all version 14 on bookworm).
DS_CHECK_PACKAGES=(clang-format-14 clang-tidy-14 clang-14)
ensure_check_deps() { ensure_apt_packages "${DS_CHECK_PACKAGES[@]}"; }

# configure_and_build PRESET [targets...]
configure_and_build() {
  local preset="$1"; shift
  local dir="$DS_ROOT/build/$preset"
  if [[ ! -f "$dir/build.ninja" ]]; then
    log "configuring ($preset)"
    cmake --preset "$preset" -S "$DS_ROOT" >/dev/null
  fi
  log "building ($preset) with $DS_JOBS jobs"
  cmake --build "$dir" -j "$DS_JOBS" ${1:+--target "$@"}
}
