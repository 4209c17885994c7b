"""What every cloud has in common: the contract a provider package implements (`contract.py`) and the
cloud-neutral description of a delivery (`deliveries.py`)."""
