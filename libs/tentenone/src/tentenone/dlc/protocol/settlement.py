"""Settling a contract: the CET an attestation unlocks, or the refund.

Either side can complete the CET alone: it decrypts the other side's adaptor
signature with the oracle's attestation (the adaptor secret) and adds its
own signature. The refund needs no secret at all: both refund signatures
were exchanged when the contract was signed.
"""

from __future__ import annotations

from collections.abc import Sequence

from tentenone.bitcoin import ecdsa
from tentenone.bitcoin.tx import Transaction
from tentenone.dlc import adaptor
from tentenone.dlc.adaptor_points import OracleHashingPolicy
from tentenone.dlc.execution import Execution, find_execution
from tentenone.dlc.oracle_messages import OracleAnnouncement, OracleAttestation
from tentenone.dlc.protocol.opening import check_secret
from tentenone.dlc.protocol.signed import SignedContract
from tentenone.dlc.signing import Signer
from tentenone.dlc.transactions import funding_spend_sighash, funding_spend_witness
from tentenone.dlc.validation import validate_attestation

__all__ = ["complete_cet", "contract_announcements", "funding_spend", "refund_transaction"]


def contract_announcements(signed: SignedContract) -> list[OracleAnnouncement]:
    return [
        a for event in signed.contract.contract_info.events for a in event.oracle_info.announcements
    ]


def funding_spend(
    signed: SignedContract, tx: Transaction, offer_signature: bytes, accept_signature: bytes
) -> Transaction:
    """``tx`` (a CET, refund or closing tx) with the 2-of-2 witness of both signatures."""
    funding = signed.funding
    witness = funding_spend_witness(
        funding.funding_script,
        {
            signed.contract.offer_pubkey: offer_signature,
            signed.contract.accept_pubkey: accept_signature,
        },
    )
    return tx.with_witnesses([witness])


def complete_cet(
    signed: SignedContract,
    role: Signer,
    own_secret: bytes,
    attestations: Sequence[OracleAttestation],
    hashing: OracleHashingPolicy,
) -> tuple[Transaction, Execution]:
    """The CET the attestations unlock, fully signed by ``role``.

    Each attestation is checked against the contract's announcements first
    (Oracle-Validation.md); one that does not verify raises.
    """
    contract = signed.contract
    own_pubkey = contract.offer_pubkey if role is Signer.OFFERER else contract.accept_pubkey
    check_secret(own_secret, own_pubkey)
    announcements = contract_announcements(signed)
    for attestation in attestations:
        validate_attestation(attestation, announcements, hashing)
    execution = find_execution(contract.contract_info, contract.plan, attestations)
    theirs = (
        signed.accept_adaptor_signatures
        if role is Signer.OFFERER
        else signed.offer_adaptor_signatures
    )[execution.entry_index]
    their_sig = adaptor.decrypt(theirs, execution.secret)
    cet = contract.txs.cets[execution.cet_index]
    funding = signed.funding
    digest = funding_spend_sighash(cet, funding.funding_script, funding.value)
    our_sig = ecdsa.sign_compact(own_secret, digest)
    offer_sig, accept_sig = (our_sig, their_sig) if role is Signer.OFFERER else (their_sig, our_sig)
    return funding_spend(signed, cet, offer_sig, accept_sig), execution


def refund_transaction(signed: SignedContract) -> Transaction:
    """The refund, signed by both; valid once the chain passes ``refund_locktime``."""
    return funding_spend(
        signed, signed.txs.refund, signed.offer_refund_signature, signed.accept_refund_signature
    )
