"""`python -m generator` runs the memberportal CLI."""
from .cli import main

main()
