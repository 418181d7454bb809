"""The catalog: embeddings, store, search, import and API."""
