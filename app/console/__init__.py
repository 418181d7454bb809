"""The marketer console: server-rendered pages over the admin API's functions."""
