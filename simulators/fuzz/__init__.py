"""The OCPP frame fuzzer: hostile frames, the answers OCPP-J 1.6 demands, and a campaign
runner against the real agent process (used by tests/fuzz and ``make fuzz``).

Needs ``hypothesis`` (a test dependency): install with ``pip install -e '.[test]'``.
"""
