"""The wire level of the simulator: SIP/RTP phones and callers against a running center.

Modules: :mod:`~sim.wire.ua` (sans-IO user agent on the ``sip`` core) with
:mod:`~sim.wire.calls` and :mod:`~sim.wire.ua_events`; :mod:`~sim.wire.net` (UDP sockets,
timers) and :mod:`~sim.wire.rtp` (PCMU and RFC 4733 over RTP, one 20 ms tick);
:mod:`~sim.wire.phone` and :mod:`~sim.wire.caller` (the scripts), :mod:`~sim.wire.desk`
(agents on the gateway); :mod:`~sim.wire.runner` (``simulate_wire``),
:mod:`~sim.wire.accounting` (every call in the CDRs?), :mod:`~sim.wire.system`,
:mod:`~sim.wire.result` and :mod:`~sim.wire.report`.
"""
