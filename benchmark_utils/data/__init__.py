"""Readers of each dataset on disk, batch loaders, augmentation."""
