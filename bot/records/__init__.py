"""The records database: the questions students asked, the answers they got, and their ratings."""
