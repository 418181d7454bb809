"""Product catalog groundwork: offline text embeddings for semantic product search."""
