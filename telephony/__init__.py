"""The softswitch: SIP transports, the stack glue around the sans-IO core, the registrar,
trunks and routing, and the ``telephony`` service that hosts the call actors.

- ``messages``: the SIP port's bus contract with call actors (``sip/telephony``).
- ``ids``: call ids, and the tags and branches that carry them (stateless SIP routing).
- ``routing``: trunks by source address, E.164, the route table.
- ``registrar``: REGISTER with digest, bindings, expiry, OPTIONS keepalive.
- ``bindings``: bindings persisted in the store.
- ``stack``: the transaction user around ``sip.transaction_layer`` (no sockets).
- ``transport``: UDP, TCP and TLS listeners on asyncio.
- ``service``: ``async def main(ctx)`` of the ``telephony`` process.
"""
