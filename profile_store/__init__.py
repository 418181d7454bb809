"""The unified customer profile: tables, sessions, identity resolution, events, traits, consent."""
