"""SIP2 (3M Standard Interchange Protocol 2.00) support for self-service machines.

`shelfguard.sip2.protocol` is the pure codec: no Django, no I/O.
"""
