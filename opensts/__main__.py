"""`python -m opensts` behaves exactly like the `opensts` command."""

from opensts.cli import main

if __name__ == "__main__":
    main()
