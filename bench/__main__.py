"""Run every benchmark: python -m bench."""

from bench import load_long_commitment, log_scale

if __name__ == "__main__":
    load_long_commitment.main()
    log_scale.main()
