"""The demo: a drum synthesizer and the synthesized library and archive."""
