"""Executing a contract: which CET the oracles' attestations unlock, and the
adaptor secret that decrypts its adaptor signatures.

For each adaptor signature of the plan (in plan order) the attestations of
its oracles must start with the messages it was encrypted to; the secret is
the sum of those attestations' ``s`` values (NumericOutcomeCompression.md
and MultiOracle.md: attestation points add, so their secrets add).
Attestations should first pass
:func:`~tentenone.dlc.validation.validate_attestation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tentenone.dlc.cets import CetPlan
from tentenone.dlc.contract import ContractInfo
from tentenone.dlc.errors import ContractError
from tentenone.dlc.oracle_messages import OracleAttestation
from tentenone.oracle.attestation import attestation_secret

__all__ = ["Execution", "find_execution"]


@dataclass(frozen=True, slots=True)
class Execution:
    """Adaptor signature ``entry_index`` on CET ``cet_index``, decrypted by ``secret``."""

    entry_index: int
    cet_index: int
    secret: bytes


def find_execution(
    info: ContractInfo, plan: CetPlan, attestations: Sequence[OracleAttestation]
) -> Execution:
    """The first plan entry the attestations satisfy (raises ContractError if none)."""
    by_oracle: dict[tuple[int, int], OracleAttestation] = {}
    for event_index, event in enumerate(info.events):
        for oracle_index, announcement in enumerate(event.oracle_info.announcements):
            for attestation in attestations:
                if (
                    attestation.oracle_public_key == announcement.oracle_public_key
                    and attestation.event_id == announcement.oracle_event.event_id
                ):
                    by_oracle[(event_index, oracle_index)] = attestation
    for index, entry in enumerate(plan.entries):
        signatures: list[bytes] = []
        for oracle in entry.oracles:
            attested = by_oracle.get((entry.event_index, oracle.oracle))
            n = len(oracle.messages)
            if attested is None or tuple(attested.outcomes[:n]) != oracle.messages:
                break
            signatures.extend(attested.signatures[:n])
        else:
            return Execution(index, entry.cet_index, attestation_secret(signatures))
    raise ContractError("the attestations match no CET of the contract (refund path only)")
