# scripts/lib/cassandra_install.sh — the `install` step of scripts/cassandra
# (JDK, Cassandra jars from Maven Central, the CQL probe's Python driver).
# Sourced by scripts/cassandra after its settings (CACHE_DIR, LIB_DIR, ...)
# and log/die; not run on its own.
# ---------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------

as_root() {
  if [[ ${EUID} -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@";
  else die "need root to run: $*"; fi
}

# Installs Debian packages, refreshing the package lists only if needed.
apt_install() {
  log "apt-get install $*"
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null; then
    as_root apt-get update -q >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
  fi
}

# Prints the major version of the given java binary ("17"), or nothing.
java_major() {
  "$1" -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print v[1]; exit }'
}

# Sets JAVA to a JDK 17 java. 5.0 refuses JDK 18+ (Security Manager removal) and
# 11 would work but is not what we test; a newer default `java` is bypassed.
find_java17() {
  local candidate
  for candidate in "${DS_CASSANDRA_JAVA:-}" "${JAVA_HOME:+${JAVA_HOME}/bin/java}" \
      "$(command -v java || true)" /usr/lib/jvm/java-17-openjdk-*/bin/java; do
    if [[ -n ${candidate} && -x ${candidate} && "$(java_major "${candidate}")" == 17 ]]; then
      JAVA="${candidate}"
      return 0
    fi
  done
  return 1
}

ensure_java() {
  find_java17 && return 0
  apt_install openjdk-17-jdk-headless
  find_java17 || die "no JDK 17 found even after installing openjdk-17-jdk-headless"
}

ensure_jars() {
  if [[ -f ${LIB_DIR}/.complete && "$(cat "${LIB_DIR}/.complete")" == "${CASSANDRA_VERSION}" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || apt_install maven
  log "resolving org.apache.cassandra:cassandra-all:${CASSANDRA_VERSION} from Maven Central"
  local staging="${LIB_DIR}.tmp.$$"
  rm -rf "${staging}"
  mkdir -p "${staging}"
  # The POM has no build output; keep Maven's 'target' out of the source tree.
  if ! mvn -B -q -Dstyle.color=never -f "${TOOLS_DIR}/pom.xml" \
      -Dcassandra.version="${CASSANDRA_VERSION}" -Dcassandra.lib.dir="${staging}" \
      dependency:copy-dependencies >&2; then
    rm -rf "${staging}"
    die "maven could not resolve cassandra-all ${CASSANDRA_VERSION}"
  fi
  rm -rf "${TOOLS_DIR}/target"
  ls "${staging}"/cassandra-all-"${CASSANDRA_VERSION}".jar "${staging}"/jamm-*.jar >/dev/null \
    || die "resolved jars lack cassandra-all or jamm"
  echo "${CASSANDRA_VERSION}" > "${staging}/.complete"
  rm -rf "${LIB_DIR}"
  mv "${staging}" "${LIB_DIR}"
  log "$(ls "${LIB_DIR}"/*.jar | wc -l) jars in ${LIB_DIR}"
}

# Prints a python interpreter that can `import cassandra`, or nothing.
cql_python() {
  local py
  for py in "${VENV_DIR}/bin/python" /usr/bin/python3; do
    if [[ -x ${py} ]] && "${py}" -c 'import cassandra' 2>/dev/null; then
      echo "${py}"
      return 0
    fi
  done
  return 1
}

# The Python driver is our CQL probe and `cql` client. Preferred: PyPI wheel in a
# private venv (no compiler needed: --only-binary). Fallback: Debian's package.
ensure_python_driver() {
  cql_python >/dev/null && return 0
  local base_py=/usr/bin/python3
  [[ -x ${base_py} ]] || base_py="$(command -v python3 || true)"
  [[ -n ${base_py} ]] || apt_install python3 python3-venv
  [[ -n ${base_py} ]] || base_py=/usr/bin/python3
  log "installing cassandra-driver ${PY_DRIVER_VERSION} into ${VENV_DIR}"
  rm -rf "${VENV_DIR}"
  if ! "${base_py}" -m venv "${VENV_DIR}" >/dev/null 2>&1; then
    apt_install python3-venv
    "${base_py}" -m venv "${VENV_DIR}" >/dev/null 2>&1 || true
  fi
  if [[ -x ${VENV_DIR}/bin/pip ]] && "${VENV_DIR}/bin/pip" install -q --disable-pip-version-check \
      --only-binary=:all: "cassandra-driver==${PY_DRIVER_VERSION}" >&2; then
    cql_python >/dev/null && return 0
  fi
  log "PyPI wheel unavailable; falling back to Debian python3-cassandra"
  rm -rf "${VENV_DIR}"
  apt_install python3-cassandra
  cql_python >/dev/null || die "no usable Python cassandra driver"
}

cmd_install() {
  mkdir -p "${CACHE_DIR}"
  exec 8>"${CACHE_DIR}/.install.lock"
  flock 8
  ensure_java
  ensure_jars
  ensure_python_driver
  exec 8>&-
}
