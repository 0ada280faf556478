"""Models: the networks, their training data and augmentation, storage, inference and evaluation."""
