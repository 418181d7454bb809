"""Which embedding model the catalog uses, from settings (one place for both API and CLI)."""

from __future__ import annotations

from chromadb.api.types import Documents, EmbeddingFunction
from chromadb.utils.embedding_functions import OpenAIEmbeddingFunction

from app.settings import Settings
from tools.catalog.embeddings import MiniLmEmbeddingFunction
from tools.catalog.store import CatalogStore, connect


def embedding_function(settings: Settings) -> EmbeddingFunction[Documents]:
    if settings.embeddings == "local":
        return MiniLmEmbeddingFunction()
    if settings.openai_api_key is None:
        raise ValueError("CHATCOMMERCE_EMBEDDINGS=openai needs CHATCOMMERCE_OPENAI_API_KEY")
    # The key's variable name is stored with the collection, so a new process reopens it.
    function: EmbeddingFunction[Documents] = OpenAIEmbeddingFunction(
        api_key=settings.openai_api_key.get_secret_value(),
        api_key_env_var="CHATCOMMERCE_OPENAI_API_KEY",
        model_name=settings.openai_embedding_model,
        api_base=settings.openai_base_url,
    )
    return function


def open_catalog_store(settings: Settings) -> CatalogStore:
    return CatalogStore(
        connect(settings.data_dir, settings.chroma_url), embedding_function(settings)
    )
