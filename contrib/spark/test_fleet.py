#!/usr/bin/env python3
"""The Spark job against `leakdiff report`, key for key, in Spark's local mode.

    python3 contrib/spark/test_fleet.py --leakdiff target/debug/leakdiff --work TMP \
        SERVICE=FOLDER [SERVICE=FOLDER ...]

Each FOLDER is ingested as SERVICE into one dataset (leakdiff ingest); the job
(leakdiff_fleet.py) runs on it with master local[2]; its suspects for each service must equal
`leakdiff report FOLDER`'s: the same (kind, key) set, the same pattern and severity, the same
slope and p-value (within 1e-4 relative: the dataset keeps microseconds, a folder's profiles
nanoseconds). Then the Spark SQL query of doc/guide.md (and its DuckDB form, when duckdb is installed)
runs on the dataset and must rank first the biggest heap suspect that `report` names, for the
services given with --sql-top. Prints "N passed, M failed" and exits non-zero on any failure.
"""

import argparse
import json
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import leakdiff_fleet  # noqa: E402

# The queries of doc/guide.md (fleet datasets), with the dataset's path filled in.
SPARK_SQL = """
SELECT service, key, max_by(value, time) - min_by(value, time) AS growth
FROM parquet.`{dataset}`
WHERE kind = 'heap' AND value_type = 'inuse_space' AND key IS NOT NULL
GROUP BY service, key
QUALIFY row_number() OVER (PARTITION BY service ORDER BY growth DESC) <= 3
ORDER BY service, growth DESC
"""
SPARK_SQL_NO_QUALIFY = """
SELECT service, key, growth FROM (
  SELECT service, key, growth,
         row_number() OVER (PARTITION BY service ORDER BY growth DESC) AS rank
  FROM (SELECT service, key, max_by(value, time) - min_by(value, time) AS growth
        FROM parquet.`{dataset}`
        WHERE kind = 'heap' AND value_type = 'inuse_space' AND key IS NOT NULL
        GROUP BY service, key))
WHERE rank <= 3 ORDER BY service, growth DESC
"""
DUCKDB_SQL = """
SELECT service, key, max_by(value, time) - min_by(value, time) AS growth
FROM read_parquet('{dataset}/*/*/*.parquet', hive_partitioning = true)
WHERE kind = 'heap' AND value_type = 'inuse_space' AND key IS NOT NULL
GROUP BY service, key
QUALIFY row_number() OVER (PARTITION BY service ORDER BY growth DESC) <= 3
ORDER BY service, growth DESC
"""


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-9)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--leakdiff", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--sql-top", action="append", default=[], metavar="SERVICE",
                    help="a service whose biggest suspect the queries of doc/guide.md must rank first "
                         "(a clear leak: the queries compare first and last values only)")
    ap.add_argument("services", nargs="+", metavar="SERVICE=FOLDER")
    args = ap.parse_args()
    leakdiff = os.path.abspath(args.leakdiff)
    dataset = os.path.join(args.work, "fleet")
    out = os.path.join(args.work, "suspects")
    pairs = [s.split("=", 1) for s in args.services]
    for service, folder in pairs:
        subprocess.run([leakdiff, "ingest", "--service", service, "-i", folder, "-o", dataset,
                        "--no-progress"], check=True)
    leakdiff_fleet.main([dataset, out, "--leakdiff", leakdiff, "--master", args.master])

    import pyarrow.parquet as pq
    table = pq.read_table(out).to_pylist()
    passed, failed = 0, 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"FAIL: {what}", file=sys.stderr)

    expected_top = {}
    for service, folder in pairs:
        proc = subprocess.run([leakdiff, "report", folder, "-f", "json", "--top", "0",
                               "--no-progress"], capture_output=True, text=True, check=True)
        report = json.loads(proc.stdout)
        want = {(r["kind"], r["key"]): r for r in leakdiff_fleet.suspects_of_report(service,
                                                                                  report)}
        got = {(r["kind"], r["key"]): r for r in table if r["service"] == service}
        errors = [r["error"] for r in got.values() if r.get("error")]
        check(not errors, f"{service}: the job reported errors {errors}")
        check(set(got) == set(want),
              f"{service}: suspects differ: job only {sorted(set(got) - set(want))}, "
              f"report only {sorted(set(want) - set(got))}")
        check(len(want) > 0 or service.startswith("control"),
              f"{service}: report found no suspects to compare")
        for k in set(got) & set(want):
            g, w = got[k], want[k]
            for field in ("pattern", "severity", "proven_by"):
                check(g[field] == w[field], f"{service} {k}: {field} {g[field]!r} != {w[field]!r}")
            for field in ("slope_per_hour", "p_value", "growth", "last", "value_in_24h",
                          "hours_to_limit"):
                check(close(g[field], w[field]),
                      f"{service} {k}: {field} {g[field]!r} != {w[field]!r}")
        heap = [s for s in report.get("suspects") or []]
        if heap and service in args.sql_top:
            expected_top[service] = max(heap, key=lambda s: s["growth"])["key"]
        print(f"{service}: {len(want)} suspect(s) compared", file=sys.stderr)

    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master(args.master)
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.ui.enabled", "false").getOrCreate())
    try:
        rows = spark.sql(SPARK_SQL.format(dataset=dataset)).collect()
    except Exception:  # Spark before 3.5 has no QUALIFY
        rows = spark.sql(SPARK_SQL_NO_QUALIFY.format(dataset=dataset)).collect()
    spark.stop()
    spark_top = {}
    for r in rows:
        spark_top.setdefault(r["service"], r["key"])
    for service, key in expected_top.items():
        check(spark_top.get(service) == key,
              f"Spark SQL: top heap key of {service} is {spark_top.get(service)!r}, "
              f"report's biggest suspect is {key!r}")
    # pyarrow and pandas read it as a Hive dataset too (no view types in the files).
    import pyarrow.dataset as pads
    frame = pads.dataset(dataset, format="parquet", partitioning="hive").to_table().to_pandas()
    check(set(frame["service"]) == {service for service, _ in pairs},
          f"pyarrow: services {sorted(set(frame['service']))}")
    check(len(frame) == sum(r.num_rows for r in map(pq.ParquetFile,
                                                    pads.dataset(dataset).files)
                            for r in [r.metadata]),
          "pyarrow: row count")
    try:
        import duckdb
    except ImportError:
        print("duckdb not installed: the DuckDB query is not run", file=sys.stderr)
    else:
        con = duckdb.connect()
        duck_top = {}
        for service, key, _growth in con.execute(DUCKDB_SQL.format(dataset=dataset)).fetchall():
            duck_top.setdefault(service, key)
        for service, key in expected_top.items():
            check(duck_top.get(service) == key,
                  f"DuckDB: top heap key of {service} is {duck_top.get(service)!r}, "
                  f"report's biggest suspect is {key!r}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
