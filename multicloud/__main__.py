from multicloud.cli import main

main()
