"""What `/healthz` reports: the state of each dependency of a service, and an overall status.

A service registers its dependencies once: *probes* are checked on every `/healthz` (a store ping,
a Lark tenant token), *reports* are read from something that tracks itself (the long connection,
the LLM's recent failures). During start-up a dependency can be marked as waited for.

    {"status": "ok",                      # ok | degraded | starting | draining | unavailable
     "dependencies": {"store": {"state": "ok", "ok": true, "required": true},
                      "llm": {"state": "degraded", "ok": false, "required": false, "error": "…"}},
     "waiting_for": []}                   # what start-up still waits for

The status is 200 for "ok" and "degraded" (a dependency that is not required is down: the service
still does its job, less well), 503 otherwise: starting, draining (stopping), or a required
dependency down. Error texts come from larkdou's own exceptions, which never carry secrets.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 2.0  # seconds each probe may take before it counts as down
OK, DEGRADED, STARTING, DRAINING, UNAVAILABLE = "ok", "degraded", "starting", "draining", "unavailable"

Probe = Callable[[], Awaitable[object]]  # raises when the dependency is down
Report = Callable[[], dict[str, Any]]  # {"state": str, "ok": bool, ...details}


@dataclass
class _Dependency:
    required: bool
    probe: Probe | None = None
    report: Report | None = None


class Health:
    """The dependencies of one service and its phase (starting, running, draining)."""

    def __init__(self, *, starting: bool = True, probe_timeout: float = PROBE_TIMEOUT):
        self._deps: dict[str, _Dependency] = {}
        self._waiting: dict[str, str] = {}  # name -> why, while start-up waits for it
        self.phase = STARTING if starting else OK
        self.probe_timeout = probe_timeout

    # ---- registration and phase -----------------------------------------------------------------
    def probe(self, name: str, check: Probe, *, required: bool = True) -> None:
        """Check `name` on every report by awaiting `check()` (down when it raises or times out)."""
        self._deps[name] = _Dependency(required, probe=check)

    def report(self, name: str, read: Report, *, required: bool = True) -> None:
        """Take `name`'s state from `read()`: a dict with at least "state" and "ok"."""
        self._deps[name] = _Dependency(required, report=read)

    def waiting(self, name: str, why: str) -> None:
        """Start-up waits for `name` (shown as its state until `arrived`)."""
        self._waiting[name] = why

    def arrived(self, name: str) -> None:
        self._waiting.pop(name, None)

    def ready(self) -> None:
        """Start-up is over."""
        self._waiting.clear()
        self.phase = OK

    def draining(self) -> None:
        self.phase = DRAINING

    # ---- the report -------------------------------------------------------------------------------
    async def check(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) for `/healthz`."""
        names = [name for name in self._deps if name not in self._waiting]
        states = await asyncio.gather(*(self._state(name, self._deps[name]) for name in names))
        deps = dict(zip(names, states))
        for name, why in self._waiting.items():
            required = self._deps[name].required if name in self._deps else True
            deps[name] = {"state": "waiting", "ok": False, "required": required, "error": why}
        if self.phase != OK:
            status = self.phase
        elif any(not d["ok"] and d["required"] for d in deps.values()):
            status = UNAVAILABLE
        elif any(not d["ok"] for d in deps.values()):
            status = DEGRADED
        else:
            status = OK
        body = {"status": status, "dependencies": deps, "waiting_for": sorted(self._waiting)}
        return (200 if status in (OK, DEGRADED) else 503), body

    async def _state(self, name: str, dep: _Dependency) -> dict[str, Any]:
        if dep.report is not None:
            return {**dep.report(), "required": dep.required}
        assert dep.probe is not None
        try:
            async with asyncio.timeout(self.probe_timeout):
                await dep.probe()
        except TimeoutError:
            return {"state": "down", "ok": False, "required": dep.required,
                    "error": f"no answer within {self.probe_timeout:g} s"}
        except Exception as exc:  # a probe's failure is the report, whatever it is
            return {"state": "down", "ok": False, "required": dep.required,
                    "error": f"{type(exc).__name__}: {exc}"[:300]}
        return {"state": "ok", "ok": True, "required": dep.required}


def store_word(body: dict[str, Any], *names: str) -> str:
    """The short `store` field older clients read: "ok", "unreachable" or "waiting"."""
    deps = [body["dependencies"][n] for n in names if n in body["dependencies"]]
    if not deps:
        return "unknown"
    if all(d["ok"] for d in deps):
        return "ok"
    return "waiting" if any(d["state"] == "waiting" for d in deps) else "unreachable"
