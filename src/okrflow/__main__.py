from okrflow.cli import main

main()
