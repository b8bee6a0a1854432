"""The web layer: server, JSON API, chat, embed page, instructor dashboard."""
