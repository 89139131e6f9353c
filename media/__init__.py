"""Sans-IO media core: RTP/RTCP, G.711, RFC 4733 events, jitter buffer, in-band DTMF, WAV.

Nothing here does I/O or keeps global state; time is passed in as ``now`` (seconds). The
numpy paths take one row per session so a media worker can process all its calls per tick.
"""
