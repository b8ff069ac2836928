"""The order book: a pure matching engine per market and the service around it."""

__all__: list[str] = []
