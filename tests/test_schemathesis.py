"""Schemathesis against the real service on 127.0.0.1: every operation of /openapi.json, all checks
(server errors, status codes and content types the document does not list, response-schema
conformance, auth that is ignored, ...), the coverage, fuzzing and stateful phases (links from
POST to GET/DELETE), a fixed seed and a bounded number of examples. Settings and the accepted 4xx
of valid bodies are in tests/schemathesis.toml."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from servers import start_server

HERE = Path(__file__).resolve().parent
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
KEY = "schemathesis-key"
# small caps keep the jobs that valid bodies start cheap on 2 cores
CAPS = dict(api_keys=KEY, max_requests_per_job="300", max_simulations_per_job="10", max_queued_jobs="3",
            max_documents_per_job="2000", max_turns_per_job="300", job_timeout_s="60")


@pytest.mark.slow
def test_schemathesis_finds_nothing(tmp_path):
    if shutil.which(SCHEMATHESIS) is None:
        pytest.fail("schemathesis is a dev dependency; run `make install`")
    process, base = start_server(tmp_path / "st.db", **CAPS)
    try:
        run = subprocess.run(
            [SCHEMATHESIS, "--config-file", str(HERE / "schemathesis.toml"), "run", f"{base}/openapi.json",
             "--header", f"X-API-Key: {KEY}", "--max-examples", "30", "--seed", "1", "--workers", "1",
             "--generation-database", "none", "--no-color", "--request-timeout", "30"],
            capture_output=True, text=True, timeout=1200, cwd=tmp_path)   # a guard against hangs, not a speed bound
    finally:
        process.kill()
        process.wait()
    summary = run.stdout[-3000:]
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-2000:]
    assert " passed" in summary and "failure" not in summary.lower() and "error" not in summary.split("SUMMARY")[-1]
    print(summary)
