"""Contactor tests: one folder per package, end-to-end tests in e2e/."""
