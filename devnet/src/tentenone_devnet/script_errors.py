"""Core's ScriptErrorString for an input libbitcoinkernel has already refused.

The kernel says only pass/fail. For the single-key templates wallets use
(P2WPKH, P2TR key path) and P2WSH, the way a failing input fails follows
from its shape, so we name the error Core's interpreter would report with
the mempool's standard flags. Anything else gets a neutral text. This never
decides validity: it runs only after the kernel said no.
"""

from __future__ import annotations

import hashlib

from tentenone_devnet.codec import TxIn
from tentenone_devnet.scripts import witness_program

__all__ = ["explain"]

_GENERIC = "Script failed (libbitcoinkernel reports no script error)"


def _hash160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()


def explain(script_pubkey: bytes, txin: TxIn) -> str:
    prog = witness_program(script_pubkey)
    if prog is None:
        return _GENERIC
    version, program = prog
    stack = txin.witness
    if version == 0 and len(program) == 20:
        return _p2wpkh(program, stack)
    if version == 0 and len(program) == 32:
        if not stack:
            return "Witness program was passed an empty witness"
        if hashlib.sha256(stack[-1]).digest() != program:
            return "Witness program hash mismatch"
        return _GENERIC
    if version == 1 and len(program) == 32:
        if not stack:
            return "Witness program was passed an empty witness"
        if len(stack) >= 2 and stack[-1][:1] == b"\x50":
            stack = stack[:-1]  # annex
        if len(stack) == 1:
            if len(stack[0]) not in (64, 65):
                return "Invalid Schnorr signature size"
            return "Invalid Schnorr signature"
    return _GENERIC


def _p2wpkh(program: bytes, stack: list[bytes]) -> str:
    if not stack:
        return "Witness program was passed an empty witness"
    if len(stack) != 2:
        return "Witness program hash mismatch"
    sig, pubkey = stack
    if _hash160(pubkey) != program:
        return "Script failed an OP_EQUALVERIFY operation"
    if not sig:
        return "Script evaluated without error but finished with a false/empty top stack element"
    # With NULLFAIL (a standard flag) a failed non-empty signature is this error.
    return "Signature must be zero for failed CHECK(MULTI)SIG operation"
