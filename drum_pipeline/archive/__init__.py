"""The archive: its index per pack, the rebuilt mirror, the user's corrections and the reports on the index."""
