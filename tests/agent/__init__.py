"""The agent: offline planner, graph, and the agent answering through the channels."""
