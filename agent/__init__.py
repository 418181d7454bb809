"""The LangGraph shopping agent: graph, state, prompts, model factory."""
