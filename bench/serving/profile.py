"""Where the replica's and the gateway's CPU goes under load, and where a replica's start-up goes.

    .venv/bin/python -m bench.serving.profile [--duration 15] [--out FILE]

For the replica (2 workers, batching) and for gateway + replica: starts it as bench.serving does,
warms it up, then samples every process of its tree with py-spy (`record --subprocesses
--nonblocking`, 200 samples/s, only frames that run: idle waits are not sampled) while `wrk`
loads it at concurrency 64. Reports each process's share of the samples, the functions where
the samples land (self time), and Berth's own functions with everything they call (total time).
Then times one replica start by its log's phases, and the imports behind the model load.
Prints a markdown section; with --out FILE also writes it there, as bench.serving does (on top
of the runs in docs/benchmarks.md). `make bench` runs this first, then bench.serving.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.serving import iris, servers
from bench.serving.load import require_wrk, wrk
from bench.serving.report import Machine, describe_machine, write
from bench.serving.servers import ROOT, Running, Server, launch, stop, wait_until_ready

CONCURRENCY = 64
RATE = 200
TOP = 15
PY_SPY = Path(sys.executable).parent / "py-spy"  # requirements-dev.txt
# Frames every sample of a process passes through (start-up and the supervisor): no news in a profile.
ENTRY_POINTS = ("<module> ", "main ", "_serve ", "Supervisor.", "worker_main ")
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*):\d+\)$")


@dataclass
class Profile:
    """Samples of one server's process tree: a stack is a tuple of 'function (file)' frames, root first."""

    server: str
    stacks: Counter[tuple[str, ...]] = field(default_factory=Counter)
    processes: Counter[str] = field(default_factory=Counter)  # samples by process command
    rps: float = 0.0
    errors: int = 0  # wrk's socket errors and non-2xx answers while sampled

    @property
    def total(self) -> int:
        return sum(self.stacks.values())

    def self_time(self) -> Counter[str]:
        leaves: Counter[str] = Counter()
        for stack, count in self.stacks.items():
            leaves[stack[-1]] += count
        return leaves

    def berth_total_time(self) -> Counter[str]:
        """Samples under each of Berth's own functions (serving/…, less the entry points), each
        counted once per stack."""
        totals: Counter[str] = Counter()
        for stack, count in self.stacks.items():
            for frame in set(stack):
                if "serving/" in frame and not frame.startswith(ENTRY_POINTS):
                    totals[frame] += count
        return totals


def parse_raw(text: str, server: str) -> Profile:
    """py-spy's raw format: `process PID:"command";frame;…;frame COUNT` per line."""
    profile = Profile(server)
    for line in text.splitlines():
        head, _, count = line.rpartition(" ")
        if not head.startswith("process ") or not count.isdigit():
            continue
        process, _, frames = head.partition('";')
        command = process.partition(':"')[2]
        stack = tuple(_frame(f) for f in frames.split(";") if f)
        if stack:
            profile.stacks[stack] += int(count)
            profile.processes[_process_name(command)] += int(count)
    return profile


def _frame(raw: str) -> str:
    match = FRAME.match(raw)
    if match is None:
        return raw
    path = match["file"]
    short = path.split("site-packages/")[-1] if "site-packages/" in path else path.removeprefix(f"{ROOT}/")
    return f"{match['function']} ({short})"


def _process_name(command: str) -> str:
    if "serving.gateway" in command:
        return "gateway"
    if "serving.server" in command:
        return "replica (parent or worker)"
    return command[:60]


def profile_under_load(running: Running, duration_s: float, out: Path) -> Profile:
    pids = [process.pid for process in running.processes.values()]  # each with its forked workers
    spies = [subprocess.Popen(  # noqa: S603 - our own argv
        [str(PY_SPY), "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--function",
         "--format", "raw", "--rate", str(RATE), "--duration", str(round(duration_s)),
         "--output", str(out.with_suffix(f".{pid}.txt"))],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for pid in pids]
    time.sleep(1.0)  # py-spy attaches
    rps, _, _, errors = wrk(running.server.predict_url, CONCURRENCY, duration_s - 2)
    for spy in spies:
        spy.wait(timeout=duration_s + 30)
    profile = Profile(running.server.name, rps=rps, errors=errors)
    for pid in pids:
        one = parse_raw(out.with_suffix(f".{pid}.txt").read_text(), running.server.name)
        profile.stacks.update(one.stacks)
        profile.processes.update(one.processes)
    return profile


def measure(make: Server, duration_s: float, work: Path) -> Profile:
    running = launch(make, work / "logs")
    try:
        with httpx.Client(timeout=httpx.Timeout(5.0, connect=1.0), trust_env=False) as client:
            wait_until_ready(running, client)
        wrk(make.predict_url, 8, 2.0)
        return profile_under_load(running, duration_s, work / f"{make.name}.raw")
    finally:
        stop(running)


# --- start-up --------------------------------------------------------------------------

@dataclass(frozen=True)
class StartUpPhases:
    first_prediction_s: float
    phases: list[tuple[str, float]]  # log event, seconds after the process was spawned
    imports: list[tuple[str, float]]  # the slowest top-level imports of the sklearn runtime, seconds


def start_up_phases(model: iris.IrisModel, work: Path) -> StartUpPhases:
    server = servers.replica(model, name="replica-start")
    log = work / "logs" / "replica-start-replica.log"
    running = launch(server, work / "logs")
    spawned = time.time()
    try:
        with httpx.Client(timeout=httpx.Timeout(5.0, connect=1.0), trust_env=False) as client:
            first = servers.first_prediction_s(running, client)
    finally:
        stop(running)
    return StartUpPhases(first, _phases(log.read_text(), spawned), _slowest_imports(model))


def _phases(log: str, spawned: float) -> list[tuple[str, float]]:
    from datetime import datetime
    wanted = ("startup", "stand_in_started", "model_loaded", "worker_started", "worker_ready")
    phases, seen = [], set()
    for line in log.splitlines():
        match = re.match(r'\{"ts":"([^"]+)","level":"\w+","event":"(\w+)"', line)
        if match and match[2] in wanted and match[2] not in seen:
            seen.add(match[2])
            at = datetime.fromisoformat(match[1].replace("Z", "+00:00")).timestamp()
            phases.append((match[2], at - spawned))
    return phases


def _slowest_imports(model: iris.IrisModel) -> list[tuple[str, float]]:
    """Import time of loading the bench's model as a replica does, by top-level package (the sum of
    its modules' own times), slowest first."""
    load = f"from pathlib import Path; from serving.loader import load_runtime; load_runtime(Path({str(model.bundle)!r}))"
    result = subprocess.run(  # noqa: S603 - our interpreter, our program
        [sys.executable, "-X", "importtime", "-c", load], capture_output=True, text=True, check=True, cwd=ROOT)
    packages: Counter[str] = Counter()
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \| *(\S+)", line)
        if match:
            packages[match[2].split(".")[0]] += int(match[1])
    return [(name, us / 1e6) for name, us in packages.most_common(8)]


# --- report ----------------------------------------------------------------------------

def render(profiles: list[Profile], start: StartUpPhases, duration_s: float, machine: Machine) -> str:
    load = ", ".join(f"{x:.2f}" for x in machine.load_before)
    lines = [f"### Profile, {machine.date} — {machine.cpu}, {machine.cores} cores, Python {machine.python}", "",
             f"Load average (1, 5, 15 min) before: {load}.", "",
             f"Command: `.venv/bin/python -m bench.serving.profile --duration {duration_s:g}` "
             f"(py-spy at {RATE} samples/s per process, wrk at c={CONCURRENCY}; only running frames are "
             "sampled). Shares are of all samples of the server's process tree.", ""]
    for profile in profiles:
        lines += _render_profile(profile)
    lines += ["#### Replica start-up, one start", "",
              f"First correct prediction {start.first_prediction_s:.2f} s after spawn. Log events, s after spawn: "
              + ", ".join(f"{name} {at:.2f}" for name, at in start.phases) + ".", "",
              "Import time of loading the model as a replica does, by package (one process): "
              + ", ".join(f"{name} {s:.2f} s" for name, s in start.imports) + ".", ""]
    return "\n".join(lines)


def _render_profile(profile: Profile) -> list[str]:
    total = profile.total or 1
    by_process = ", ".join(f"{name} {count / total:.0%}" for name, count in profile.processes.most_common())
    lines = [f"#### {profile.server} at c={CONCURRENCY}: {profile.rps:,.0f} req/s ({profile.errors} errors) while sampled, "
             f"{profile.total:,} samples ({by_process})", "",
             "| self time | function | | total time | Berth function |", "|---:|---|---|---:|---|"]
    leaves = profile.self_time().most_common(TOP)
    berth = profile.berth_total_time().most_common(TOP)
    for index in range(TOP):
        left = (f"{leaves[index][1] / total:.1%}", f"`{leaves[index][0]}`") if index < len(leaves) else ("", "")
        right = (f"{berth[index][1] / total:.1%}", f"`{berth[index][0]}`") if index < len(berth) else ("", "")
        lines.append(f"| {left[0]} | {left[1]} | | {right[0]} | {right[1]} |")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serving.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds sampled per server (default 15)")
    parser.add_argument("--out", type=Path, help="also write the markdown section here (as bench.serving --out)")
    args = parser.parse_args()
    require_wrk()
    work = Path(tempfile.mkdtemp(prefix="berth-profile-"))
    model = iris.train(work / "model")
    profiles = [measure(servers.replica(model), args.duration, work),
                measure(servers.gateway(model, work), args.duration, work)]
    section = render(profiles, start_up_phases(model, work), args.duration, describe_machine())
    print(section)
    if args.out:
        print(write(args.out, section))


if __name__ == "__main__":
    main()
