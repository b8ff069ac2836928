"""Market definitions shared by the order book, the DLC service and the oracle."""
