"""Benchmarks: each ``bench/<area>.py`` has ``main(argv) -> int`` and writes RESULTS.md."""
