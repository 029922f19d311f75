"""`python -m gate`: the model-gate command line."""

from gate.commands import main

main()
