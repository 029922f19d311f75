from gate.commands import main

main()
