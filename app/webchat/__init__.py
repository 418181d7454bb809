"""Web chat in the app: the mailbox in SQL, live streams, the page and the embeddable widget."""
