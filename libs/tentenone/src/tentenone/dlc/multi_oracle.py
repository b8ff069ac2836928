"""Multiple oracles (dlcspecs MultiOracle.md).

t-of-n is reduced to every combination of t oracles (:func:`oracle_combinations`,
lexicographic order). With allowed difference (numeric outcomes, binary digits),
:func:`outcome_combinations` gives, for one digit prefix of the primary oracle,
the tuples of prefixes (primary first, then each secondary) to be covered.

Orderings follow rust-dlc, which generated the test vectors (the spec leaves
them open), and two conditions of the spec text are read as ADR 0033 records:
the "right primary interval" case is the complement of the middle case
(``end >= rightMaxErrorMult - minSupport``; the text's strict inequality leaves
a gap), and the rightmost special case is "the containing maxError block is the
last one" (the text compares ``rightMaxErrorMult`` with ``maxNum``, which can
never be equal).
"""

from __future__ import annotations

from itertools import combinations

from tentenone.dlc.decomposition import decompose, prefix_interval
from tentenone.dlc.errors import ContractError

__all__ = ["oracle_combinations", "outcome_combinations"]

Prefix = tuple[int, ...]


def oracle_combinations(nb_oracles: int, threshold: int) -> list[tuple[int, ...]]:
    """Every set of ``threshold`` oracle indexes, in lexicographic order."""
    if not 1 <= threshold <= nb_oracles:
        raise ContractError(f"threshold {threshold} is not within 1..{nb_oracles}")
    return list(combinations(range(nb_oracles), threshold))


def _head(value: int, nb_digits: int, ignored: int) -> Prefix:
    """The binary digits of ``value`` without its last ``ignored`` digits."""
    return decompose(value, 2, nb_digits)[: nb_digits - ignored]


def _common_prefix(a: int, b: int, nb_digits: int) -> Prefix:
    out = []
    for x, y in zip(decompose(a, 2, nb_digits), decompose(b, 2, nb_digits), strict=True):
        if x != y:
            break
        out.append(x)
    return tuple(out)


def _head_then(value: int, nb_digits: int, max_error_exp: int, digit: int) -> Prefix:
    """First ``nb_digits - max_error_exp`` digits of ``value``, then its following
    digits as long as they equal ``digit``."""
    digits = decompose(value, 2, nb_digits)
    keep = nb_digits - max_error_exp
    while keep < nb_digits and digits[keep] == digit:
        keep += 1
    return digits[:keep]


def _single(primary: Prefix, secondary: Prefix, threshold: int) -> list[tuple[Prefix, ...]]:
    return [(primary, *([secondary] * (threshold - 1)))]


def _double(primary: Prefix, p: Prefix, q: Prefix, threshold: int) -> list[tuple[Prefix, ...]]:
    """Every assignment of the two secondary prefixes to the secondary oracles,
    the last oracle varying fastest, the smaller prefix first."""
    first, second = (p, q) if p <= q else (q, p)
    out = []
    for i in range(1 << (threshold - 1)):
        secondaries = [second if i & (1 << j) else first for j in range(threshold - 1)]
        out.append((primary, *reversed(secondaries)))
    return out


def _restricted(inner: Prefix, outer: Prefix, threshold: int) -> list[tuple[Prefix, ...]]:
    """:func:`_double` with ``inner`` as primary, without the all-``inner`` tuple."""
    combos = _double(inner, inner, outer, threshold)
    return combos[:-1] if inner > outer else combos[1:]


def outcome_combinations(
    nb_digits: int,
    primary: Prefix,
    max_error_exp: int,
    min_support_exp: int,
    maximize_coverage: bool,
    threshold: int,
) -> list[tuple[Prefix, ...]]:
    """The prefix tuples (primary first) that cover ``primary`` with bounded error."""
    if threshold == 1:
        return [(primary,)]
    if not 0 <= min_support_exp < max_error_exp <= nb_digits:
        raise ContractError(
            f"need 0 <= minSupportExp ({min_support_exp}) < maxErrorExp ({max_error_exp}) "
            f"<= nb_digits ({nb_digits})"
        )
    start, end = prefix_interval(primary, 2, nb_digits)
    small = end - start + 1 < 1 << max_error_exp
    cover = _small_interval if small else _large_interval
    return cover(
        nb_digits, primary, start, end, max_error_exp, min_support_exp, maximize_coverage, threshold
    )


def _small_interval(
    n: int, primary: Prefix, start: int, end: int, e: int, s: int, maximize: bool, t: int
) -> list[tuple[Prefix, ...]]:
    max_error, half, min_support = 1 << e, 1 << (e - 1), 1 << s
    left_mult = (start >> e) << e
    block_end = left_mult + max_error - 1
    max_cover = _head(left_mult, n, e)
    if start - left_mult >= min_support and end <= block_end - min_support:
        middle = (
            max_cover if maximize else _common_prefix(start - min_support, end + min_support, n)
        )
        return _single(primary, middle, t)
    if start - left_mult < min_support:
        right = max_cover if maximize else _head_then(end + min_support, n, e, 0)
        if left_mult == 0:
            return _single(primary, right, t)
        left = (
            _head(left_mult - half, n, e - 1)
            if maximize
            else _head_then(start - min_support, n, e, 1)
        )
        return _double(primary, right, left, t)
    left = max_cover if maximize else _head_then(start - min_support, n, e, 1)
    if block_end == (1 << n) - 1:
        return _single(primary, left, t)
    right = _head(block_end + 1, n, e - 1) if maximize else _head_then(end + min_support, n, e, 0)
    return _double(primary, left, right, t)


def _large_interval(
    n: int, primary: Prefix, start: int, end: int, e: int, s: int, maximize: bool, t: int
) -> list[tuple[Prefix, ...]]:
    half, min_support = 1 << (e - 1), 1 << s
    width, step = (e - 1, half) if maximize else (s, min_support)
    out: list[tuple[Prefix, ...]] = []
    if start != 0:
        out += _restricted(_head(start, n, width), _head(start - step, n, width), t)
    out += _single(primary, primary, t)
    if end != (1 << n) - 1:
        out += _restricted(_head(end - step + 1, n, width), _head(end + 1, n, width), t)
    return out
