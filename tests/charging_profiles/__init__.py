"""Charging profiles: the limit core and the rules of installing profiles."""
