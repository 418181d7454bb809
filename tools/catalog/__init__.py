"""The product catalog: schema, Chroma store, offline embeddings, search and import."""
