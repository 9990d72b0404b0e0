"""`python -m tgfetch`."""

from tgfetch.cli import main

main()
