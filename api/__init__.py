"""Entry points: the FastAPI application and the `commitments` command line."""
