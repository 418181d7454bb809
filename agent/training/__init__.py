"""The labelled training set of the intent classifier and the weights fitted on it.

``intents.csv`` (text, intent, source) is what the model learns from; ``SOURCES.md`` says where
each line comes from and under which licence. ``python -m agent.training.fit`` refits
``intent_model.npz`` after the set changes.
"""
