"""Labels: the taxonomy, labels from names, and the curated, grouped training set."""
