"""Web chat: the channel this app serves itself, to a page and an embeddable widget.

It has no outside provider: what a provider keeps for the other channels (the visitor's view of
the conversation) is a mailbox the app stores, and sending means writing to it. The adapter
here only knows the mailbox's interface, so ``channels/`` still imports nothing of ours.
"""
