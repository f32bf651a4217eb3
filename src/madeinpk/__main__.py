from madeinpk.cli import main

main()
