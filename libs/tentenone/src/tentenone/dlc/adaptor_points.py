"""The adaptor point of every adaptor signature of a contract.

For an :class:`~tentenone.dlc.cets.AdaptorEntry` the point is the sum, over
the oracles of the combination, of the attestation point of what that oracle
must sign (NumericOutcomeCompression.md and MultiOracle.md: points of several
digits and of several oracles simply add). Per-digit points are computed once
per oracle (``DigitPointTable``).

How an oracle hashes what it signs is a per-oracle setting
(:class:`OracleHashingPolicy`): the test vectors use plain SHA256, oracles
following Oracle.md's text use the tagged hash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

from tentenone.bitcoin.curve import Point, point_sum
from tentenone.dlc.cets import CetPlan
from tentenone.dlc.contract import ContractInfo
from tentenone.dlc.oracle_messages import DigitDecompositionEventDescriptor, OracleAnnouncement
from tentenone.oracle.attestation import DigitPointTable, attestation_point
from tentenone.oracle.hashing import DEFAULT_HASHING, OracleHashing

__all__ = ["OracleHashingPolicy", "adaptor_points"]


@dataclass(frozen=True, slots=True)
class OracleHashingPolicy:
    """Which hashing each oracle (by x-only public key) uses; ``default`` otherwise."""

    default: OracleHashing = DEFAULT_HASHING
    per_oracle: Mapping[bytes, OracleHashing] = field(default_factory=lambda: MappingProxyType({}))

    def for_key(self, oracle_public_key: bytes) -> OracleHashing:
        return self.per_oracle.get(oracle_public_key, self.default)


class _Points:
    """Attestation points of one contract, cached per oracle and outcome."""

    def __init__(self, info: ContractInfo, hashing: OracleHashingPolicy) -> None:
        self._info = info
        self._hashing = hashing
        self._tables: dict[tuple[int, int], DigitPointTable] = {}
        self._enum: dict[tuple[int, int, str], Point] = {}

    def _announcement(self, event: int, oracle: int) -> OracleAnnouncement:
        return self._info.events[event].oracle_info.announcements[oracle]

    def oracle_point(self, event: int, oracle: int, messages: tuple[str, ...]) -> Point:
        announcement = self._announcement(event, oracle)
        descriptor = announcement.oracle_event.event_descriptor
        key = announcement.oracle_public_key
        if isinstance(descriptor, DigitDecompositionEventDescriptor):
            table = self._tables.get((event, oracle))
            if table is None:
                table = _digit_table(
                    key,
                    tuple(announcement.oracle_event.oracle_nonces),
                    self._hashing.for_key(key),
                    descriptor.base,
                )
                self._tables[(event, oracle)] = table
            return table.prefix_point([int(m) for m in messages])
        cache_key = (event, oracle, messages[0])
        point = self._enum.get(cache_key)
        if point is None:
            nonces = announcement.oracle_event.oracle_nonces[:1]
            point = attestation_point(key, nonces, messages, self._hashing.for_key(key))
            self._enum[cache_key] = point
        return point


@lru_cache(maxsize=8)
def _digit_table(
    key: bytes, nonces: tuple[bytes, ...], hashing: OracleHashing, base: int
) -> DigitPointTable:
    """One table per announcement for the process: every contract on an expiry
    shares its digit and prefix points, and each side needs them twice (to sign
    and to verify). Tables only ever add entries (dict writes are atomic), so
    threads may share one; the worst case is a point computed twice."""
    return DigitPointTable(key, nonces, hashing, base)


def adaptor_points(
    info: ContractInfo, plan: CetPlan, hashing: OracleHashingPolicy | None = None
) -> list[Point]:
    """One point per entry of ``plan``, in the plan's (the messages') order."""
    points = _Points(info, hashing or OracleHashingPolicy())
    out = []
    for entry in plan.entries:
        parts = [
            points.oracle_point(entry.event_index, o.oracle, o.messages) for o in entry.oracles
        ]
        out.append(parts[0] if len(parts) == 1 else point_sum(parts))
    return out
