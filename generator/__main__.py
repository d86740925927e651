"""`python -m memberportal` runs the memberportal CLI."""
from memberportal.cli import main

main()
