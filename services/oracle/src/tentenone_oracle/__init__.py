"""The oracle service: announces each expiry's BTC/USD price event and attests at maturity."""

__all__: list[str] = []
