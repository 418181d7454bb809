"""The agent's tools as plain typed async functions.

Every tool takes the ``Shopper`` the conversation belongs to (from identity resolution, kept in
graph state) and never a customer id the model could choose: a shopper typing another
person's phone number gets nothing of theirs.
"""
