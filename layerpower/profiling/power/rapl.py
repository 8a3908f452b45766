"""CPU package and DRAM energy through the Linux powercap RAPL driver.

Zones live under ``<root>/sys/class/powercap/``: ``intel-rapl:<N>`` is package N (its ``name`` file says
``package-N``) and ``intel-rapl:<N>:<M>`` its sub-zones (``core``, ``uncore``, ``dram``). AMD Zen CPUs are
exposed by the same driver under the same ``intel-rapl`` names; ``amd-rapl:*`` zones are accepted too.
``intel-rapl-mmio:*`` duplicates the package counter and is skipped, as are ``core``/``uncore`` (inside the
package) and ``psys`` (the whole platform), so the domains never count the same energy twice.

Each domain is a µJ counter (``energy_uj``) that wraps at ``max_energy_range_uj``; readings are turned
into a monotonic cumulative energy in joules. RAPL refreshes about every millisecond
(:data:`RAPL_UPDATE_PERIOD_S`). Since Linux 5.10 ``energy_uj`` is readable by root only; the error says
how to grant access.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from layerpower.errors import PowerSourceError
from layerpower.profiling.power.base import AveragePower, CounterAccumulator, PowerSource, read_text

#: Intel SDM: the energy status MSRs update about every 976 µs
RAPL_UPDATE_PERIOD_S = 0.001

_ZONE = re.compile(r"^(?:intel-rapl|amd-rapl):(\d+)(?::(\d+))?$")


class RaplError(PowerSourceError):
    """RAPL zones are missing or cannot be read."""


class RaplPermissionError(RaplError):
    """RAPL counters exist but this user may not read them."""


@dataclass(frozen=True)
class RaplDomain:
    """One RAPL counter: ``key`` is ``package-N`` or ``dram-N``."""

    key: str
    energy_path: Path
    max_range_uj: float


def powercap_dir(root: str | Path = "/") -> Path:
    return Path(root) / "sys" / "class" / "powercap"


def find_domains(root: str | Path = "/") -> list[RaplDomain]:
    """The package and DRAM domains under ``root`` (names only; counters are not read here)."""
    base = powercap_dir(root)
    if not base.is_dir():
        return []
    domains: dict[str, RaplDomain] = {}
    for zone in sorted(base.iterdir(), key=lambda p: p.name):
        match = _ZONE.match(zone.name)
        if match is None:
            continue
        package, sub = match.group(1), match.group(2)
        try:
            name = read_text(zone / "name").lower()
        except OSError:
            continue
        if sub is None and name.startswith("package"):
            key = name if re.fullmatch(r"package-\d+", name) else f"package-{package}"
        elif name == "dram":
            key = f"dram-{package}"
        else:
            continue  # core/uncore sit inside the package; psys covers the platform
        try:
            max_range = float(read_text(zone / "max_energy_range_uj"))
        except (OSError, ValueError):
            max_range = 0.0
        domains.setdefault(key, RaplDomain(key, zone / "energy_uj", max_range))
    return list(domains.values())


def _permission_error(path: Path) -> RaplPermissionError:
    return RaplPermissionError(
        f"RAPL counter {path} exists but is not readable by this user (permission denied)",
        hint=f"run as root, or grant read access: sudo chmod a+r {path.parent.parent}/intel-rapl:*/energy_uj "
        f"{path.parent.parent}/intel-rapl:*/*/energy_uj",
    )


def _read_uj(path: Path) -> float:
    try:
        with open(path, "rb", buffering=0) as handle:
            return float(handle.read().strip())
    except PermissionError:
        raise _permission_error(path) from None
    except (OSError, ValueError) as exc:
        raise RaplError(f"RAPL counter {path} could not be read: {exc}") from None


class RaplSource(PowerSource):
    """Energy of CPU packages and DRAM (devices ``package-N``, ``dram-N``) from RAPL counters."""

    name = "rapl"
    is_estimate = False
    has_energy_counter = True

    def __init__(self, root: str | Path = "/", *, update_period_s: float = RAPL_UPDATE_PERIOD_S) -> None:
        self.root = Path(root)
        self.domains = find_domains(self.root)
        if not self.domains:
            raise RaplError(f"no RAPL package or DRAM zones under {powercap_dir(self.root)}")
        self._fds: dict[str, int] = {}
        try:
            for domain in self.domains:
                _read_uj(domain.energy_path)  # clear error for unreadable counters
                with open(domain.energy_path, "rb", buffering=0) as handle:
                    self._fds[domain.key] = os.dup(handle.fileno())
        except BaseException:
            self.close()
            raise
        self._lock = threading.Lock()
        self._counter = CounterAccumulator({d.key: d.max_range_uj for d in self.domains})
        self._period = float(update_period_s)
        self._power = AveragePower(self.energy_reading, first_wait_s=0.05)

    @classmethod
    def _probe(cls, root: Path) -> str | None:
        domains = find_domains(root)
        if not domains:
            zones = powercap_dir(root)
            return f"no RAPL zones under {zones} (not an Intel/AMD CPU with powercap, or a virtual machine)"
        try:
            for domain in domains:
                _read_uj(domain.energy_path)
        except RaplError as exc:
            return str(exc)
        return None

    def _raw_uj(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for domain in self.domains:
            try:
                out[domain.key] = float(os.pread(self._fds[domain.key], 64, 0).strip())
            except (OSError, ValueError) as exc:
                raise RaplError(f"RAPL counter {domain.energy_path} could not be read: {exc}") from None
        return out

    def devices(self) -> list[str]:
        return [d.key for d in self.domains]

    @property
    def update_period_s(self) -> float:
        return self._period

    def energy_j(self) -> dict[str, float]:
        """Cumulative energy per domain in J (µJ counters, wraparound handled)."""
        with self._lock:
            return {key: uj / 1e6 for key, uj in self._counter.update(self._raw_uj()).items()}

    def power_w(self) -> dict[str, float]:
        """Average power per domain in W since the previous call (the first call averages over 50 ms)."""
        return self._power()

    def close(self) -> None:
        for fd in getattr(self, "_fds", {}).values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = {}
