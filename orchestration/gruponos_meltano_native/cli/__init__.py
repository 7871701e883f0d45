"""The `gruponos-meltano` command: click commands and what they print."""
