from infernet.cli.app import main

main()
