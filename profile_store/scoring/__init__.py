"""Predictive scores per customer: purchase propensity, churn risk, discount sensitivity and
expected value, fitted on the shop's own history and kept current as events arrive.

``train`` fits the models (``chatcommerce scores train`` and the workers' schedule); ``evaluate``
turns one customer's traits and the live parameters into scores in closed form, cheap enough to
run inside event ingestion.
"""
