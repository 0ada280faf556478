"""Real sounds for checks: a corpus of real one-shots and non-drums built from Debian packages."""
