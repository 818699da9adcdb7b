"""Developer tools that are not part of the installed package (the local fleet launcher)."""
