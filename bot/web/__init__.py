"""The web layer: server, JSON API, chat pages, embedding, security, LTI."""
