#!/usr/bin/env python3
"""Runs one CQL statement, or probes readiness, for scripts/cassandra.

Usage (normally through `scripts/cassandra cql` / `start`):
  cql.py [--host H] [--port P] [--consistency CL] [--timeout S] STATEMENT
  cql.py --ready --host H      exit 0 iff H answers a real CQL query
Credentials (PasswordAuthenticator; `scripts/cassandra start --auth`) come from
the environment: DS_CQL_USERNAME and DS_CQL_PASSWORD.

Talks only to --host (a whitelist policy), so a readiness probe of one node is
not satisfied by another node of the cluster. Rows are printed one per line,
columns separated by " | ", after a header line; blobs print as 0x<hex>.
Exit status: 0 success, 1 CQL/connection error, 2 usage error.
"""

import argparse
import logging
import os
import sys

from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import WhiteListRoundRobinPolicy
from cassandra.query import SimpleStatement


def format_value(value):
    if value is None:
        return "null"
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return str(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9042)
    parser.add_argument("--consistency", default="ONE",
                        help="ONE, QUORUM, LOCAL_QUORUM, ALL, ... (default ONE)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="request timeout in seconds (default 10)")
    parser.add_argument("--ready", action="store_true",
                        help="probe: SELECT release_version FROM system.local")
    parser.add_argument("statement", nargs="?")
    args = parser.parse_args()

    if args.ready == (args.statement is not None):
        parser.error("give exactly one of --ready or STATEMENT")
    try:
        consistency = getattr(ConsistencyLevel, args.consistency.upper())
    except AttributeError:
        parser.error(f"unknown consistency level {args.consistency!r}")

    # The driver logs failed connection attempts (with tracebacks) at WARNING/ERROR;
    # errors that matter are reported by the exception below.
    logging.basicConfig(level=logging.CRITICAL, stream=sys.stderr)

    profile = ExecutionProfile(
        load_balancing_policy=WhiteListRoundRobinPolicy([args.host]),
        consistency_level=consistency,
        request_timeout=args.timeout)
    auth = None
    if os.environ.get("DS_CQL_USERNAME"):
        auth = PlainTextAuthProvider(username=os.environ["DS_CQL_USERNAME"],
                                     password=os.environ.get("DS_CQL_PASSWORD", ""))
    cluster = Cluster(contact_points=[args.host], port=args.port,
                      auth_provider=auth,
                      execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                      connect_timeout=min(args.timeout, 5.0),
                      control_connection_timeout=min(args.timeout, 5.0))
    try:
        session = cluster.connect()
        if args.ready:
            row = session.execute(
                "SELECT release_version FROM system.local").one()
            print(row.release_version)
            return 0
        result = session.execute(SimpleStatement(args.statement,
                                                 consistency_level=consistency))
        names = result.column_names
        if not names:
            print("OK")
            return 0
        print(" | ".join(names))
        count = 0
        for row in result:  # Follows paging transparently.
            print(" | ".join(format_value(v) for v in row))
            count += 1
        print(f"({count} rows)")
        return 0
    except Exception as e:  # pylint: disable=broad-except
        print(f"cql: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    sys.exit(main())
