"""Conformance runner over the dlcspecs test vectors.

``python -m tentenone.dlc.conformance FILE...`` runs every case of each file,
prints one line per file and, last, ``N passed, M failed``; the exit status is
non-zero when any case fails or a file has no handler.

A file is handled by ``run_<stem>(path) -> list[CaseResult]`` found in the
handler modules (``_messages``, and ``_crypto`` when present); the 14 full
offer/accept/sign runs under ``test_vectors/`` all go to ``run_test_vectors``.
"""

from tentenone.dlc.conformance._result import CaseResult
from tentenone.dlc.conformance._runner import Handler, handler_for, run_file

__all__ = ["CaseResult", "Handler", "handler_for", "run_file"]
