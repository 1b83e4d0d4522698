"""The pure model: the Commitment aggregate, its vocabulary and the Tracker use cases.

Nothing here imports FastAPI or SQLAlchemy; adapters and entry points depend on it.
"""
