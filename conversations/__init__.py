"""The inbound pipeline: persist and dedupe at the webhook, then one ordered turn per
conversation (bursts debounced), compliance keywords first, replies delivered in order."""
