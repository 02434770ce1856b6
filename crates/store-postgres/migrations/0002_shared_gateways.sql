-- Several gateways on one database: a count every batch of consent or directory writes
-- moves on (in the same transaction), so each gateway can tell that what it cached may
-- be stale.
CREATE TABLE omadata_changes (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    count bigint NOT NULL
);
INSERT INTO omadata_changes (id, count) VALUES (true, 0);
