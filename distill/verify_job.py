"""The ``kgr distill verify`` batch job: a trace file into a file of kept traces, resumably.

Every ``CHECKPOINT_EVERY`` traces, and when the job stops for any reason, a state file beside the
output (``OUT.verify-state.json``) records how many input lines are done, a SHA-256 of those lines, the
output's size and the report so far. A rerun truncates the output to that size, restores the report and
the dedupe set, and goes on from the next input line. So a killed job loses nothing, and an input that
has grown since (a resumed traces job appending to it) is verified incrementally. An input whose
verified lines changed is refused; ``resume=False`` starts over.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path as FsPath
from typing import IO, Any

from tqdm import tqdm

from distill.traces import TraceWriter, iter_traces, parse_trace
from distill.verify import Verifier, VerifyReport
from kg.errors import DataFormatError, InputError
from kg.store import GraphStore

STATE_VERSION = 1
CHECKPOINT_EVERY = 200


def state_path(out: FsPath) -> FsPath:
    return out.with_name(out.name + ".verify-state.json")


def _line_digest(digest: Any, raw: bytes) -> None:
    # a last line without its newline counts the same once the newline arrives
    digest.update(raw.rstrip(b"\n") + b"\n")


def _load_state(out: FsPath, options: dict[str, bool]) -> dict[str, Any] | None:
    path = state_path(out)
    if not path.exists() or not out.exists():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataFormatError(str(path), exc.lineno, f"unreadable verify state: {exc.msg}") from exc
    if state.get("version") != STATE_VERSION:
        raise DataFormatError(str(path), 1, f"unsupported verify state version {state.get('version')}")
    if state["options"] != options:
        raise InputError(
            f"{out} was verified with {state['options']}, not {options}: rerun with --no-resume "
            "to verify the traces again with the new options"
        )
    if out.stat().st_size < state["out_bytes"]:
        return None  # the output was cut by hand: start over
    return state


def _skip_verified(fh: IO[bytes], digest: Any, lines: int, expected: str, traces: FsPath) -> None:
    for _ in range(lines):
        raw = fh.readline()
        if not raw:
            break
        _line_digest(digest, raw)
    if digest.hexdigest() != expected:
        raise InputError(
            f"{traces}: its first {lines} lines changed since they were verified: rerun with "
            "--no-resume to verify the file from the start"
        )


def _snapshot(lines: int, out: FsPath, digest: Any, report: VerifyReport) -> dict[str, Any]:
    return {
        "lines": lines,
        "out_bytes": os.path.getsize(out),
        "sha256": digest.hexdigest(),
        "report": report.to_json(),
    }


def run_verify(
    store: GraphStore,
    traces: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    require_answer: bool = True,
    write_dropped: bool = False,
    resume: bool = True,
    progress: bool = True,
    every: int = CHECKPOINT_EVERY,
) -> tuple[VerifyReport, int]:
    """Verify the traces not yet verified into ``out``; the whole report and the lines skipped."""
    traces, out = FsPath(traces), FsPath(out)
    if not traces.exists():
        raise InputError(f"trace file {traces} does not exist")
    options = {"require_answer": require_answer, "write_dropped": write_dropped}
    verifier = Verifier(store, require_answer=require_answer)
    if not resume:
        state_path(out).unlink(missing_ok=True)
    state = _load_state(out, options) if resume else None
    digest = hashlib.sha256()
    with traces.open("rb") as fh:
        done = 0
        if state is not None:
            _skip_verified(fh, digest, state["lines"], state["sha256"], traces)
            done = state["lines"]
            with out.open("r+b") as cut:  # lines written after the last checkpoint are redone
                cut.truncate(state["out_bytes"])
            verifier.report = VerifyReport.from_json(state["report"])
            for kept in iter_traces(out):
                verifier.remember(kept)
        skipped = done
        writer = TraceWriter(out, append=state is not None)
        # what the state file may claim: updated in one step after a line is fully handled
        committed = _snapshot(done, out, digest, verifier.report)

        def save() -> None:
            record = {
                "version": STATE_VERSION,
                "traces": str(traces),
                "options": options,
                **committed,
            }
            tmp = state_path(out).with_suffix(".tmp")
            tmp.write_text(json.dumps(record), encoding="utf-8")
            tmp.replace(state_path(out))

        size, start = traces.stat().st_size, fh.tell()
        bar = tqdm(total=size, initial=start, unit="B", unit_scale=True, desc="verify", disable=not progress)
        try:
            while raw := fh.readline():
                lineno = done + 1
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataFormatError(str(traces), lineno, f"not UTF-8: {exc.reason}") from exc
                if text.strip():
                    trace = parse_trace(text, traces, lineno, torn=not raw.endswith(b"\n"))
                    if trace is None:
                        break  # a line still being written: the next run verifies it
                    trace = verifier.verify(trace)
                    if trace.verification is not None and (trace.verification.kept or write_dropped):
                        writer.write(trace)
                _line_digest(digest, raw)
                done += 1
                committed = _snapshot(done, out, digest, verifier.report)
                bar.update(len(raw))
                if done % every == 0:
                    save()
        finally:
            writer.close()
            bar.close()
            save()
    return verifier.report, skipped
