"""`python -m eventlake` runs the CLI."""

from eventlake.cli import main

main()
