"""Hypothesis strategies for keys and digests shared by the tests of this area."""

from __future__ import annotations

from hypothesis import strategies as st

from tentenone.bitcoin.curve import CURVE_ORDER

scalars = st.integers(min_value=1, max_value=CURVE_ORDER - 1).map(lambda k: k.to_bytes(32, "big"))
digests = st.binary(min_size=32, max_size=32)
