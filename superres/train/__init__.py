"""Training: recipes, losses and the training loop. Never imported by ``import superres``."""
