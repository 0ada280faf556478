"""Audio in: finding files, hashing them, decoding the analysed window, and its features."""
