-- Media quality of each call (issue 4): one object per leg whose media went through the pool
-- (received/lost packets, jitter, round trip, the E-model's R and MOS), and the call's worst
-- MOS, so that a quality manager can list the calls that sounded bad.
ALTER TABLE report_call
    ADD COLUMN quality jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN mos     real;

CREATE INDEX report_call_mos_idx ON report_call (mos) WHERE mos IS NOT NULL;
