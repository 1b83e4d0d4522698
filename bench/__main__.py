"""Run every benchmark: python -m bench."""

from bench import load_long_commitment

if __name__ == "__main__":
    load_long_commitment.main()
