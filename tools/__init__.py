"""The agent's tools: typed async functions over the profile store, catalog and policy."""
