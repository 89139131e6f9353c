"""Sans-IO SIP core (RFC 3261 and friends): bytes and time in, messages and actions out.

Modules, bottom-up:

- ``errors``: SipParseError (with ``status``/``can_respond``), SipFramingError, layer errors.
- ``grammar``, ``uri``, ``headers``, ``fields``: lexical rules, URIs, header container,
  structured header values (Via, NameAddr, CSeq, MediaType).
- ``message``: Request/Response with lazily parsed, cached views (``req.top_via``...).
- ``parser``: ``parse_datagram`` (UDP) and ``StreamFramer`` (TCP/TLS); ``serializer``.
- ``validation``: ``validate_request``/``validate_response``; ``builders``: responses, ACK, CANCEL.
- ``transaction`` (tables, plain-data state) and ``transaction_layer`` (matching, timers).
- ``dialog``: dialog state and in-dialog requests; ``digest``: auth server and client.
- ``sdp`` and ``offer_answer``: session descriptions and audio negotiation.
"""
