"""English word lists and patterns, each with its reason."""
