from servegate.cli import main

main()
