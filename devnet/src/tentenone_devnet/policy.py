"""Bitcoin Core's relay policy constants and the context-free checks.

Values are Bitcoin Core 31's defaults (src/policy/policy.h, src/consensus/*.h).
Each reject reason string is Core's, so callers matching on bitcoind's text
behave the same against this node and against a real bitcoind.
"""

from __future__ import annotations

from tentenone_devnet.codec import COIN, Tx, TxOut
from tentenone_devnet.scripts import ScriptType, classify, is_push_only, witness_program

__all__ = [
    "COINBASE_MATURITY",
    "DEFAULT_ANCESTOR_LIMIT",
    "DEFAULT_DESCENDANT_LIMIT",
    "DEFAULT_INCREMENTAL_RELAY_FEE",
    "DEFAULT_MAX_BURN_AMOUNT",
    "DEFAULT_MAX_FEE_RATE",
    "DEFAULT_MIN_RELAY_FEE",
    "DUST_RELAY_FEE",
    "MAX_BLOCK_WEIGHT",
    "MAX_MONEY",
    "MAX_REPLACEMENT_CANDIDATES",
    "Reject",
    "check_standard",
    "check_transaction",
    "count_dust",
    "dust_threshold",
    "fee_for",
    "format_fee_rate",
    "format_money",
]

MAX_MONEY = 21_000_000 * COIN
MAX_BLOCK_WEIGHT = 4_000_000
COINBASE_MATURITY = 100
MAX_STANDARD_TX_WEIGHT = 400_000
MIN_STANDARD_TX_NONWITNESS_SIZE = 65
MAX_STANDARD_SCRIPTSIG_SIZE = 1650
MAX_OP_RETURN_RELAY = 100_000
TX_MAX_STANDARD_VERSION = 3
#: fee rates in sat per 1000 vbytes
DEFAULT_MIN_RELAY_FEE = 100
DEFAULT_INCREMENTAL_RELAY_FEE = 100
DUST_RELAY_FEE = 3000
#: sendrawtransaction's default maxfeerate: 0.10 BTC/kvB
DEFAULT_MAX_FEE_RATE = 10_000_000
DEFAULT_MAX_BURN_AMOUNT = 0
DEFAULT_ANCESTOR_LIMIT = 25
DEFAULT_DESCENDANT_LIMIT = 25
MAX_REPLACEMENT_CANDIDATES = 100


class Reject(Exception):
    """A transaction refused by consensus or policy, with Core's reject reason."""

    def __init__(self, reason: str, debug: str = "", *, missing_inputs: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.debug = debug
        self.missing_inputs = missing_inputs
        #: the package member that failed, when checking a package
        self.tx: Tx | None = None

    def __str__(self) -> str:
        # TxValidationState::ToString
        return self.reason + (f", {self.debug}" if self.debug else "")


def format_money(sats: int) -> str:
    """Core's FormatMoney: at least two decimals, trailing zeros trimmed."""
    sign = "-" if sats < 0 else ""
    whole, frac = divmod(abs(sats), COIN)
    text = f"{frac:08d}".rstrip("0")
    return f"{sign}{whole}.{text.ljust(2, '0')}"


def format_fee_rate(sat_per_kvb: int) -> str:
    """CFeeRate::ToString in BTC/kvB."""
    whole, frac = divmod(sat_per_kvb, COIN)
    return f"{whole}.{frac:08d} BTC/kvB"


def fee_for(rate_sat_per_kvb: int, vsize: int) -> int:
    """CFeeRate::GetFee: rounded up so the rate is never undercut."""
    fee = -(-rate_sat_per_kvb * vsize // 1000)
    return fee if fee or rate_sat_per_kvb == 0 else 1


def dust_threshold(out: TxOut) -> int:
    """GetDustThreshold at the dust relay fee."""
    if classify(out.script_pubkey) is ScriptType.NULLDATA or (out.script_pubkey[:1] == b"\x6a"):
        return 0
    size = len(out.serialize())
    if witness_program(out.script_pubkey) is not None:
        size += 32 + 4 + 1 + (107 // 4) + 4
    else:
        size += 32 + 4 + 1 + 107 + 4
    return fee_for(DUST_RELAY_FEE, size)


def check_transaction(tx: Tx) -> None:
    """CheckTransaction: the consensus checks that need no context."""
    if not tx.vin:
        raise Reject("bad-txns-vin-empty")
    if not tx.vout:
        raise Reject("bad-txns-vout-empty")
    if len(tx.stripped) * 4 > MAX_BLOCK_WEIGHT:
        raise Reject("bad-txns-oversize")
    total = 0
    for out in tx.vout:
        if out.value < 0:
            raise Reject("bad-txns-vout-negative")
        if out.value > MAX_MONEY:
            raise Reject("bad-txns-vout-toolarge")
        total += out.value
        if total > MAX_MONEY:
            raise Reject("bad-txns-txouttotal-toolarge")
    if len({txin.prevout for txin in tx.vin}) != len(tx.vin):
        raise Reject("bad-txns-inputs-duplicate")
    if tx.is_coinbase():
        if not 2 <= len(tx.vin[0].script_sig) <= 100:
            raise Reject("bad-cb-length")
    elif any(txin.prevout.is_null() for txin in tx.vin):
        raise Reject("bad-txns-prevout-null")


def check_standard(tx: Tx) -> None:
    """IsStandardTx."""
    if not 1 <= tx.version <= TX_MAX_STANDARD_VERSION:
        raise Reject("version")
    if tx.weight > MAX_STANDARD_TX_WEIGHT:
        raise Reject("tx-size")
    for txin in tx.vin:
        if len(txin.script_sig) > MAX_STANDARD_SCRIPTSIG_SIZE:
            raise Reject("scriptsig-size")
        if not is_push_only(txin.script_sig):
            raise Reject("scriptsig-not-pushonly")
    data_bytes = 0
    dust = 0
    for out in tx.vout:
        kind = classify(out.script_pubkey)
        if kind is ScriptType.NONSTANDARD:
            raise Reject("scriptpubkey")
        if kind is ScriptType.MULTISIG and out.script_pubkey[-2] - 0x50 > 3:
            raise Reject("scriptpubkey")
        if kind is ScriptType.NULLDATA:
            data_bytes += len(out.script_pubkey)
        elif out.value < dust_threshold(out):
            dust += 1
    # MAX_DUST_OUTPUTS_PER_TX: one is allowed here, and only in a 0-fee tx (ephemeral dust)
    if dust > 1:
        raise Reject("dust")
    if data_bytes > MAX_OP_RETURN_RELAY:
        raise Reject("datacarrier")
    if len(tx.stripped) < MIN_STANDARD_TX_NONWITNESS_SIZE:
        raise Reject("tx-size-small")


def count_dust(tx: Tx) -> int:
    return sum(
        1
        for out in tx.vout
        if classify(out.script_pubkey) is not ScriptType.NULLDATA
        and out.value < dust_threshold(out)
    )
