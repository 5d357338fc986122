"""``python -m chamberlain``: the same command as ``chamberlain``."""

from chamberlain.cli import main

if __name__ == "__main__":
    main()
