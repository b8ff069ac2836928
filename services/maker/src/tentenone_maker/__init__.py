"""tentenone's market maker: the coordinator quoting both sides of every open market."""

__all__: list[str] = []
