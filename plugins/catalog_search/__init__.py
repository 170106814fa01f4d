"""Catalog embeddings and hybrid product search: the library behind the DAGs."""
