"""RFC 6455 conformance: the Autobahn test cases (run by kosoku) against the /rps/echo endpoint.

The echo endpoint is the same ``WebSocketConnection`` class as ``/rps``, so these cases exercise the framing,
fragmentation, UTF-8, ping/pong and close code that every pushwire session uses. Sections 1-7 and 10 run here;
sections 9 (large messages, performance) and 12/13 (compression, which pushwire does not negotiate) are left to
``bash scripts/autobahn.sh --all``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from pushwire import PushServer

KOSOKU = shutil.which("kosoku") or str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "kosoku")
ACCEPTED = {"OK", "NON-STRICT", "INFORMATIONAL"}


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_autobahn_sections_1_to_7_and_10(tmp_path: Path) -> None:
    if not Path(KOSOKU).exists():
        pytest.fail("kosoku is not installed: it is part of the test extras (pip install -e '.[test]')")
    server = PushServer(echo=True)
    await server.start("127.0.0.1", 0)
    try:
        process = await asyncio.create_subprocess_exec(
            KOSOKU, "-m", "fuzzingclient", "-x", "9.*", "-x", "12.*", "-x", "13.*", "-o", str(tmp_path),
            f"127.0.0.1:{server.port}", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output, _ = await asyncio.wait_for(process.communicate(), 240)
    finally:
        await server.close()
    report = json.loads((tmp_path / "index.json").read_text())
    results = {case: result for cases in report.values() for case, result in cases.items()}
    sections = {case.split(".")[0] for case in results}
    assert sections == {"1", "2", "3", "4", "5", "6", "7", "10"}, sections
    assert len(results) >= 240, output.decode(errors="replace")[-2000:]
    failed = {case: (r["behavior"], r["behaviorClose"]) for case, r in results.items()
              if r["behavior"] not in ACCEPTED or r["behaviorClose"] not in ACCEPTED}
    assert not failed, failed
