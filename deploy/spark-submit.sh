#!/usr/bin/env bash
# Build the project's wheel and submit one stage to a Spark master.
#
#   deploy/spark-submit.sh MASTER STAGE [stage options...]
#   deploy/spark-submit.sh spark://10.0.0.5:7077 score --conf conf/cluster.yaml
#
# STAGE is a file of jobs/ (run, ingest, train, score, coarsen, allocate, evaluate, simulate).
# The wheel carries this project's code to the executors (--py-files); the Python the executors
# run (PYSPARK_PYTHON, default: the interpreter below) must have the project's dependencies.
# Extra spark-submit options go in SPARK_SUBMIT_ARGS, e.g. "--executor-memory 4g".
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
if [ $# -lt 2 ]; then
    echo "usage: deploy/spark-submit.sh MASTER STAGE [options...]" >&2
    exit 2
fi
master="$1"
stage="$2"
shift 2
job="$root/jobs/$stage.py"
if [ ! -f "$job" ]; then
    echo "unknown stage '$stage': use one of $(cd "$root/jobs" && ls ./*.py | sed 's|./||; s|\.py||' | tr '\n' ' ')" >&2
    exit 2
fi

python="${PYTHON:-$root/.venv/bin/python}"
dist="$root/dist"
rm -rf "$dist"
"$python" -m pip wheel --quiet --no-deps -w "$dist" "$root" >&2
wheel="$(ls "$dist"/causal_targeting-*.whl)"
spark_home="${SPARK_HOME:-$("$python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')}"

export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$python}"
# shellcheck disable=SC2086
exec "$spark_home/bin/spark-submit" --master "$master" --py-files "$wheel" \
    --conf "spark.executorEnv.PYSPARK_PYTHON=$PYSPARK_PYTHON" \
    ${SPARK_SUBMIT_ARGS:-} "$job" "$@"
