"""One module per subcommand, each with main(args); imported only when that command runs."""
