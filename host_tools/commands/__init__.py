"""The `ovl` subcommands, one module a topic, each with a COMMANDS table
that host_tools/cli.py gathers, and the output format several share."""
