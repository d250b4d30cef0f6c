from runway_mcp import main

main()
