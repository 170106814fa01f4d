"""Serving: queries (keyword, k-NN, fusion, filters, pagination), their terms, facets, evaluation,
and the HTTP API with its page. Imports no Airflow."""
