"""The patron registry: registration, consent, look-up, reveal, correction and erasure.

Personal values are sealed with each patron's own key (see `register.py` for
the one list of personal fields) and leave this app only through
`services.reveal`, which names its purpose and is recorded in the ledger.
"""
