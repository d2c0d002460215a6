"""`python -m adsvc` runs the same command as the `adsvc` console script."""

from adsvc.cli import main

if __name__ == "__main__":
    main()
