#!/usr/bin/env python3
"""Leak suspects for a whole fleet, distributed by Spark, judged by leakdiff itself.

    spark-submit contrib/spark/leakdiff_fleet.py DATASET OUT [--leakdiff PATH] [--master local[2]]
    python3 contrib/spark/leakdiff_fleet.py DATASET OUT ...      (pyspark installed with pip)

DATASET is what `leakdiff ingest` and `leakdiff collect --dataset` write: Hive-partitioned
Parquet, service=NAME/date=YYYY-MM-DD/part-*.parquet, schema leakdiff.dataset version 1.

The job reads the dataset, groups it by service and hands each group, on the executors, to the
leakdiff binary (shipped to them with SparkContext.addFile, as spark-submit --files does): the
group's rows are written back as a one-part dataset in a temporary folder and
`leakdiff report TMP --service NAME -f json --top 0` judges it. There is one engine: the trend
rules, noise floor, Holm correction and severities are leakdiff's, never re-implemented here.

OUT is one Parquet table of suspects: service, kind (heap, goroutine, process), key, pattern,
severity, slope_per_hour, p_value, growth, last, value_in_24h, hours_to_limit, proven_by, and
error (set, on a row of its own, when leakdiff could not judge a service).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

SCHEMA = "leakdiff.dataset"
VERSION = 1

# The columns of a dataset part, in order (see leakdiff's doc/schemas.md).
PART_COLUMNS = [
    "time", "service", "snapshot", "source", "format", "kind", "value_type", "unit", "key",
    "frames", "value", "sampling_rate", "state", "created_by", "wait_minutes", "leaked", "labels",
]

SUSPECT_COLUMNS = [
    ("service", "string"), ("kind", "string"), ("key", "string"), ("pattern", "string"),
    ("severity", "string"), ("slope_per_hour", "double"), ("p_value", "double"),
    ("growth", "double"), ("last", "double"), ("value_in_24h", "double"),
    ("hours_to_limit", "double"), ("proven_by", "string"), ("error", "string"),
]
SUSPECT_DDL = ", ".join(f"{n} {t}" for n, t in SUSPECT_COLUMNS)


def suspects_of_report(service, report):
    """The suspects of one `leakdiff report -f json` (schema leakdiff.report/v1), as rows."""
    rows = []
    sections = [
        ("heap", report.get("suspects") or []),
        ("goroutine", (report.get("goroutines") or {}).get("suspects") or []),
        ("process", (report.get("process") or {}).get("suspects") or []),
    ]
    for kind, suspects in sections:
        for s in suspects:
            prediction = s.get("prediction") or {}
            rows.append({
                "service": service,
                "kind": kind,
                "key": s.get("key"),
                "pattern": s.get("pattern"),
                "severity": s.get("severity"),
                "slope_per_hour": s.get("slope_per_hour"),
                "p_value": s.get("p_value"),
                "growth": s.get("growth"),
                "last": s.get("last"),
                "value_in_24h": prediction.get("value_in_24h"),
                "hours_to_limit": prediction.get("hours_to_limit"),
                "proven_by": s.get("proven_by"),
                "error": None,
            })
    return rows


def write_part(pdf, service, root):
    """Writes one service's rows (a pandas frame with the dataset's columns) as a one-part
    dataset under root, with the key-value metadata leakdiff reads."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([
        ("time", pa.timestamp("us", tz="UTC")),
        ("service", pa.string()),
        ("snapshot", pa.string()),
        ("source", pa.string()),
        ("format", pa.string()),
        ("kind", pa.string()),
        ("value_type", pa.string()),
        ("unit", pa.string()),
        ("key", pa.string()),
        ("frames", pa.list_(pa.string())),
        ("value", pa.int64()),
        ("sampling_rate", pa.int64()),
        ("state", pa.string()),
        ("created_by", pa.string()),
        ("wait_minutes", pa.int64()),
        ("leaked", pa.bool_()),
        ("labels", pa.list_(pa.string())),
    ])
    pdf = pdf[PART_COLUMNS].copy()
    time = pd.to_datetime(pdf["time"])
    if time.dt.tz is None:
        # The job runs with spark.sql.session.timeZone=UTC: naive times are UTC.
        time = time.dt.tz_localize("UTC")
    pdf["time"] = time
    # Spark hands arrays over as numpy arrays; pyarrow takes lists.
    for col in ("frames", "labels"):
        pdf[col] = pdf[col].map(lambda v: None if v is None else [str(x) for x in v])
    for col in ("sampling_rate", "wait_minutes"):
        pdf[col] = pdf[col].astype("Int64")
    pdf["leaked"] = pdf["leaked"].astype("boolean")
    table = pa.Table.from_pandas(pdf, schema=schema, preserve_index=False)
    micros = time.astype("int64") // 1000
    meta = {
        "schema": SCHEMA,
        "version": VERSION,
        "service": service,
        "key_by": "function",
        "time_min_us": int(micros.min()),
        "time_max_us": int(micros.max()),
        "snapshots": int(pdf["snapshot"].nunique()),
        "rows": len(pdf),
    }
    table = table.replace_schema_metadata({SCHEMA: json.dumps(meta)})
    folder = os.path.join(root, f"service={service}", "date=all")
    os.makedirs(folder, exist_ok=True)
    pq.write_table(table, os.path.join(folder, "part-0.parquet"))


def judge_service(pdf, leakdiff):
    """One service's rows in, its suspects out: leakdiff's report on them."""
    import pandas as pd

    service = str(pdf["service"].iloc[0])
    tmp = tempfile.mkdtemp(prefix="leakdiff-fleet-")
    try:
        write_part(pdf, service, tmp)
        proc = subprocess.run(
            [leakdiff, "report", tmp, "--service", service, "-f", "json", "--top", "0",
             "--no-progress"],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode not in (0, 1) or not proc.stdout.strip():
            message = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            rows = [dict({n: None for n, _ in SUSPECT_COLUMNS}, service=service, error=message)]
        else:
            rows = suspects_of_report(service, json.loads(proc.stdout))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return pd.DataFrame(rows, columns=[n for n, _ in SUSPECT_COLUMNS])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", help="the dataset folder (leakdiff ingest -o DATASET)")
    ap.add_argument("out", help="where to write the suspects table (Parquet folder)")
    ap.add_argument("--leakdiff", default=shutil.which("leakdiff") or "leakdiff",
                    help="the leakdiff binary to ship to the executors")
    ap.add_argument("--master", default=None, help="Spark master (default: spark-submit's, "
                    "else local[*])")
    ap.add_argument("--partitions", type=int, default=None,
                    help="shuffle partitions for the group-by (default: 4 × the cores)")
    args = ap.parse_args(argv)

    # The Python workers run the interpreter this job runs on (pandas and pyarrow are there),
    # unless PYSPARK_PYTHON says otherwise.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark import SparkFiles
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("leakdiff-fleet")
    if args.master:
        builder = builder.master(args.master)
    # One service is one task's work: adaptive execution would coalesce the small shuffle
    # partitions into one or two and leave cores idle.
    builder = (builder.config("spark.sql.session.timeZone", "UTC")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.adaptive.coalescePartitions.enabled", "false")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true"))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    cores = spark.sparkContext.defaultParallelism
    spark.conf.set("spark.sql.shuffle.partitions", str(args.partitions or 4 * cores))

    binary = os.path.abspath(args.leakdiff)
    if not os.path.isfile(binary):
        sys.exit(f"leakdiff_fleet: no leakdiff binary at {binary} (give --leakdiff PATH)")
    spark.sparkContext.addFile(binary)
    # The executors import this file for judge_service (when it is run as a module, its
    # functions are pickled by reference).
    spark.sparkContext.addPyFile(os.path.abspath(__file__))
    name = os.path.basename(binary)

    def run(pdf):
        path = SparkFiles.get(name)
        os.chmod(path, 0o755)
        return judge_service(pdf, path)

    started = time.monotonic()
    df = spark.read.parquet(args.dataset).select(*PART_COLUMNS)
    suspects = df.groupBy("service").applyInPandas(run, schema=SUSPECT_DDL)
    suspects.write.mode("overwrite").parquet(args.out)
    took = time.monotonic() - started
    n = spark.read.parquet(args.out).count()
    print(f"leakdiff_fleet: {n} suspect row(s) written to {args.out}; the job took {took:.1f} s "
          f"on {cores} core(s)", file=sys.stderr)
    spark.stop()


if __name__ == "__main__":
    main()
