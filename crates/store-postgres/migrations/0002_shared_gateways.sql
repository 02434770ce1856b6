-- Several gateways on one database: counts that batches of consent, directory, session
-- or quota writes move on (in the same transaction), by what they may make stale in a
-- gateway's memory, so each gateway can tell that what it cached may be stale.
CREATE TABLE omadata_changes (
    kind text COLLATE "C" PRIMARY KEY CHECK (kind IN ('caches', 'quotas')),
    count bigint NOT NULL
);
INSERT INTO omadata_changes (kind, count) VALUES ('caches', 0), ('quotas', 0);
