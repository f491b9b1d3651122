"""Scoring on a real standalone Spark cluster: a master and one worker on 127.0.0.1.

The cluster comes from deploy/local_cluster.py (pyspark's own ``bin/spark-class``). The scoring
runs in a separate Python process whose driver connects to ``spark://127.0.0.1:PORT`` (this test
process already holds the shared local session), so the executor has only what the broadcast
carries: nothing depends on state local to a driver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from local_cluster import standalone_cluster

from scoring_support import customer_frame, fit_small_model
from timeouts import scaled

SCORE_ON_CLUSTER = """
import json, sys
from pathlib import Path
from pyspark.sql import SparkSession
from causal_targeting.learners.model import UpliftModel
from causal_targeting.scoring import score, unseen_levels_report

master, model_file, customers, output, cache_dir = sys.argv[1:]
spark = (
    SparkSession.builder.master(master)
    .appName("cluster-scoring-test")
    .config("spark.driver.host", "127.0.0.1")
    .config("spark.driver.bindAddress", "127.0.0.1")
    .config("spark.executor.memory", "512m")
    .config("spark.executor.cores", "2")
    .config("spark.task.cpus", "2")
    .config("spark.ui.enabled", "false")
    .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100")
    .getOrCreate()
)
model = UpliftModel.from_bytes(Path(model_file).read_bytes())
df = spark.read.parquet(customers)
score(df, model, "cluster-v1", engine="compiled", cache_dir=cache_dir).write.parquet(output)
executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1
print(json.dumps({"unseen": unseen_levels_report(df, model), "executors": executors}))
spark.stop()
"""


@pytest.mark.cluster
def test_scores_on_a_standalone_cluster_equal_in_process_predict(tmp_path: Path) -> None:
    model = fit_small_model(seed=5)
    customers = customer_frame(600, seed=6, unseen_level="Mars")
    model_file = tmp_path / "model.bin"
    model_file.write_bytes(model.to_bytes())
    customers.to_parquet(tmp_path / "customers.parquet", index=False)
    script = tmp_path / "score_on_cluster.py"
    script.write_text(SCORE_ON_CLUSTER)
    output = tmp_path / "scores"

    with standalone_cluster(tmp_path, workers=1, cores=2) as master:
        done = subprocess.run(
            [
                sys.executable,
                str(script),
                master,
                str(model_file),
                str(tmp_path / "customers.parquet"),
                str(output),
                str(tmp_path / "compiled"),
            ],
            capture_output=True,
            text=True,
            timeout=scaled(180),
            env={**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"},
        )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["executors"] == 1
    assert report["unseen"]["region"] == int((customers["region"] == "Mars").sum()) > 0

    scores = pd.read_parquet(output).sort_values("customer_id").reset_index(drop=True)
    expected = model.predict(customers.sort_values("customer_id").reset_index(drop=True))
    assert len(scores) == len(customers)
    assert set(scores["model_version"]) == {"cluster-v1"}
    for column in model.score_columns():
        np.testing.assert_allclose(scores[column], expected[column], rtol=0, atol=1e-9)
