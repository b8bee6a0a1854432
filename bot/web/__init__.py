"""The web entry points of `casebot serve`: chat, embed page, JSON API and their safeguards."""
