"""``python -m tests.faults``: run the fault matrix against real ldmd processes and print it.

    python -m tests.faults [--mode warm|live|all] [--point NAME]… [--fault NAME]… [--parallel N]

Each case starts two fresh ``ldmd`` processes, migrates ``ldg1`` from t5440-sys-1 to
t5440-sys-2 through a breakable link, strikes with the fault at the point, restarts what
died, resolves any error state with the recovery logic and checks the promises listed in
``tests/faults/matrix.py``. Live cases are reported as skipped while the managers refuse
``--live``. The last line is ``N passed, M failed``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from tests.faults.matrix import FAULTS, FREEZES, MODES, POINT_NAMES, CaseResult, points_of, run_cases

WRITES_CASES = tuple((mode, point, fault, True) for mode in MODES for point, fault in (
    ("mid-stream", "kill-ldm"), ("target:go", "kill-source"), ("mid-stream", "hup-ldm"), ("source:go_sent", "cut")))


def _cell(r: CaseResult | None) -> str:
    if r is None:
        return "-"
    if r.skipped:
        return "skip"
    if not r.ok:
        return "FAIL"
    return {"stayed": "ok/s", "moved": "ok/m"}.get(r.outcome, "ok") + ("+r" if r.recovery else "")


def print_matrix(results: list[CaseResult], out=sys.stdout) -> None:
    for mode in MODES:
        rows = [r for r in results if r.mode == mode and not r.writes]
        if not rows:
            continue
        cells = {(r.point, r.fault): r for r in rows}
        columns = [f for f in (*FAULTS, *FREEZES) if any(r.fault == f for r in rows)]
        width = max(len(p) for p in POINT_NAMES) + 2
        out.write(f"\n{mode} migration  (ok/s: stayed on the source, ok/m: moved, +r: an e was resolved)\n")
        out.write(" " * width + "".join(f"{f:>16}" for f in columns) + "\n")
        for p in POINT_NAMES:
            if not any((p, f) in cells for f in columns):
                continue
            out.write(f"{p:<{width}}" + "".join(f"{_cell(cells.get((p, f))):>16}" for f in columns) + "\n")
    writing = [r for r in results if r.writes]
    if writing:
        out.write("\nwith a guest that keeps writing (counter checked instead of the digest)\n")
        for r in writing:
            out.write(f"  {r.mode:<5} {r.point:<16} {r.fault:<14} {_cell(r)}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=(*MODES, "all"), default="all")
    ap.add_argument("--point", action="append", choices=POINT_NAMES)
    ap.add_argument("--fault", action="append", choices=(*FAULTS, *FREEZES))
    ap.add_argument("--parallel", type=int, default=2, help="cases run at once (each runs two ldmd)")
    args = ap.parse_args(argv)
    modes = MODES if args.mode == "all" else (args.mode,)
    points = args.point or POINT_NAMES
    faults = args.fault or FAULTS
    started = time.monotonic()
    results: list[CaseResult] = []

    def show(r: CaseResult) -> None:
        state = "skip" if r.skipped else ("ok" if r.ok else "FAIL")
        extra = f" {r.outcome}" + (f" after {r.recovery}" if r.recovery else "")
        sys.stdout.write(f"{state:<5}{r.mode:<5} {r.point:<16} {r.fault:<14}{r.seconds:5.1f}s{extra}"
                         + (f"\n      {r.error}" if r.error else "")
                         + (f"\n      state and logs kept in {r.kept}" if r.kept else "") + "\n")
        sys.stdout.flush()

    for mode in modes:
        cases = [(mode, p, f) for p in points if p in points_of(mode) for f in faults]
        if mode == "live":
            # One probe first: a manager that refuses --live skips the whole mode.
            probe = asyncio.run(run_cases(cases[:1], progress=show))
            results += probe
            if probe[0].skipped:
                results += [CaseResult(m, p, f, skipped=probe[0].skipped) for m, p, f in cases[1:]]
                continue
            cases = cases[1:]
        cases += [c for c in WRITES_CASES if c[0] == mode and c[1] in points and c[2] in faults]

        results += asyncio.run(run_cases(cases, parallel=args.parallel, progress=show))
    print_matrix(results)
    passed = sum(r.ok for r in results)
    failed = sum(not r.ok and not r.skipped for r in results)
    skipped = sum(bool(r.skipped) for r in results)
    print(f"\n{len(results)} cases in {time.monotonic() - started:.0f}s on this machine"
          f" ({len(results) - skipped} run, {skipped} skipped: "
          f"{', '.join(sorted({r.skipped for r in results if r.skipped})) or 'none'})")
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
