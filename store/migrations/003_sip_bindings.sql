-- Registrar bindings of agent phones (RFC 3261 §10.3), so a restarted telephony process
-- still knows where every registered phone is.  One row per (address of record, contact).
CREATE TABLE sip_binding (
    aor            text             NOT NULL CHECK (aor <> ''),
    contact        text             NOT NULL CHECK (contact <> ''),
    expires_at     double precision NOT NULL,  -- epoch seconds
    registered_at  double precision NOT NULL,
    call_id        text             NOT NULL,
    cseq           bigint           NOT NULL CHECK (cseq >= 0),
    q              real             NOT NULL DEFAULT 1.0,
    peer_transport text             NOT NULL,
    peer_host      text             NOT NULL,
    peer_port      integer          NOT NULL CHECK (peer_port BETWEEN 1 AND 65535),
    user_agent     text             NOT NULL DEFAULT '',
    PRIMARY KEY (aor, contact)
);
