"""CPU time per predict request inside one model-server process, no network: a before/after check that
the machine's other work disturbs far less than requests/s.

    .venv/bin/python -m bench.serving.cpu_per_request --tree /tmp/before --bundle <iris bundle> [--samples 5]

Loads the bundle into the `serving` package of `--tree` (default: this checkout) and drives its REST app
(`serving.rest.RestApp`, access log on, written to /dev/null) with the iris row in waves of 64 concurrent
requests on uvloop, as wrk at c=64 would (the batcher groups them); prints the process's CPU µs per request
for each sample of 100 waves. Everything a replica's worker does per request is included except the HTTP
parsing and the socket writes. `bench.serving.ab` trains a bundle (its temp dir's `model/bundle`); any
sklearn iris bundle answers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BODY = b'[{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}]'
SCOPE = {"type": "http", "method": "POST", "path": "/v1/predict",
         "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]}
WAVE, WAVES = 64, 100


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serving.cpu_per_request", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose serving/ to measure")
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    tree = str(args.tree.resolve())
    sys.path.insert(0, tree)
    for name in [m for m in sys.modules if m == "serving" or m.startswith("serving.")]:
        del sys.modules[name]
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="berth-cpu-")
    import uvloop

    import serving

    samples = uvloop.run(_measure(_app(args.bundle), args.samples))
    print(f"{Path(serving.__file__).parents[1]}: CPU µs per request, samples of {WAVES} waves of {WAVE}: "
          + " ".join(f"{s:.1f}" for s in samples) + f"; min {min(samples):.1f}, median {sorted(samples)[len(samples) // 2]:.1f}")


def _app(bundle: Path) -> Any:
    from serving.dataplane import DataPlane, Limits
    from serving.metrics import ServerMetrics
    from serving.rest import Hooks, RestApp

    metrics = ServerMetrics()
    plane = DataPlane(bundle, Limits(30, 64, 0.002), on_batch=metrics.observe_batch)
    plane.load()
    plane.start()

    async def nothing() -> None:
        return None

    app = RestApp(plane, metrics, Hooks(nothing, nothing, lambda: True, lambda: b""), 8 << 20, access_log=True)
    assert app.access_log is not None  # access_log=True made it
    app.access_log._fd = os.open(os.devnull, os.O_WRONLY)
    return app


async def _measure(app: Any, samples: int) -> list[float]:
    app.plane.batcher.start()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(_message: dict[str, Any]) -> None:
        return None

    async def wave() -> None:
        await asyncio.gather(*(app(SCOPE, receive, send) for _ in range(WAVE)))

    for _ in range(WAVES // 2):  # warm up
        await wave()
    results = []
    for _ in range(samples):
        started = time.process_time()
        for _ in range(WAVES):
            await wave()
        results.append((time.process_time() - started) / (WAVES * WAVE) * 1e6)
    return results


if __name__ == "__main__":
    main()
