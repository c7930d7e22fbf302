"""Citizen accounts: the creation wizard, access keys, captcha, activation, login, recovery."""
