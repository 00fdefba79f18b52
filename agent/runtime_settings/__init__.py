"""The charger's runtime settings, owned by the core and named by the protocol adapters.

``keys`` is the one table of settings a backend can read and change (each known by its
OCPP 1.6 key name, which is also its name in the state database); ``configuration``
holds their live values (defaults, then the TOML, then the backend's changes) and tells
listeners of each change. OCPP 1.6's GetConfiguration/ChangeConfiguration and 2.0.1's
device model are views of it, so the two protocols can never disagree on a value.
"""
