"""The archive: its index per pack and the rebuilt mirror."""
