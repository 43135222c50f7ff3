"""Datasets: one registry, the built-in sets, the user's image folders, images, augmentation."""
