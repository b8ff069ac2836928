"""Digit decomposition and CET compression (dlcspecs NumericOutcomeCompression.md).

An outcome is signed digit by digit (most significant first). A *digit
prefix* fixes the first digits and leaves the rest free, so it stands for the
aligned block of ``base^(nb_digits - len(prefix))`` outcomes that share it.
:func:`group_by_ignoring_digits` covers an interval ``[start, end]`` with the
fewest such blocks, in increasing order: the spec's front groupings, middle
grouping and back groupings with the endpoint and total optimizations are
exactly this greedy cover (each block the largest aligned one that starts at
the next uncovered outcome and stays inside the interval).
"""

from __future__ import annotations

from tentenone.dlc.errors import ContractError

__all__ = [
    "compose",
    "decompose",
    "group_by_ignoring_digits",
    "prefix_interval",
]


def decompose(value: int, base: int, nb_digits: int) -> tuple[int, ...]:
    """The ``nb_digits`` digits of ``value`` in ``base``, most significant first."""
    if base < 2 or nb_digits < 0 or not 0 <= value < base**nb_digits:
        raise ContractError(f"cannot write {value} with {nb_digits} digits in base {base}")
    digits = [0] * nb_digits
    for i in range(nb_digits - 1, -1, -1):
        value, digits[i] = divmod(value, base)
    return tuple(digits)


def compose(digits: tuple[int, ...] | list[int], base: int) -> int:
    value = 0
    for digit in digits:
        if not 0 <= digit < base:
            raise ContractError(f"digit {digit} is not valid in base {base}")
        value = value * base + digit
    return value


def prefix_interval(prefix: tuple[int, ...], base: int, nb_digits: int) -> tuple[int, int]:
    """The first and last outcome whose digits start with ``prefix``."""
    free = nb_digits - len(prefix)
    if free < 0:
        raise ContractError(f"prefix of {len(prefix)} digits is longer than {nb_digits}")
    start = compose(prefix, base) * base**free
    return start, start + base**free - 1


def group_by_ignoring_digits(
    start: int, end: int, base: int, nb_digits: int
) -> list[tuple[int, ...]]:
    """The digit prefixes covering exactly ``[start, end]``, fewest first to last.

    The whole domain is covered by the empty prefix; callers that need an
    adaptor point must refuse it (the spec: "DLCs with only one outcome are
    not supported").
    """
    if base < 2 or not 0 <= start <= end < base**nb_digits:
        raise ContractError(
            f"interval [{start}, {end}] is not inside the {nb_digits}-digit base-{base} domain"
        )
    prefixes: list[tuple[int, ...]] = []
    x = start
    while x <= end:
        free, block = 0, 1
        # grow while the next larger block is aligned at x and fits in the interval
        while free < nb_digits and x % (block * base) == 0 and x + block * base - 1 <= end:
            free += 1
            block *= base
        prefixes.append(decompose(x, base, nb_digits)[: nb_digits - free])
        x += block
    return prefixes
