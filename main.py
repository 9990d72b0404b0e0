"""The seed's entry point: `python main.py` runs the download with the env config."""

from tgfetch.cli import main

if __name__ == "__main__":
    main()
