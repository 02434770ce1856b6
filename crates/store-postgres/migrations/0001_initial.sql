-- The vault: store-wide settings, each client's wrapped data key, sealed record versions.
CREATE TABLE vault_meta (
    name text COLLATE "C" PRIMARY KEY,
    value bytea NOT NULL
);
CREATE TABLE vault_wrapped_keys (
    client bytea PRIMARY KEY CHECK (length(client) = 16),
    wrapped bytea NOT NULL
);
CREATE TABLE vault_records (
    client bytea NOT NULL CHECK (length(client) = 16),
    path text COLLATE "C" NOT NULL,
    version bigint NOT NULL CHECK (version >= 0),
    sealed bytea NOT NULL,
    PRIMARY KEY (client, path, version)
);

-- Consent and the directory: the domain's ordered key space (bytea sorts bytewise).
CREATE TABLE consent_entries (
    key bytea PRIMARY KEY,
    value bytea NOT NULL
);

-- The audit journal: one row per entry in log order, the stored tree nodes, and the
-- snapshot of the chain heads.
CREATE TABLE audit_journal (
    seq bigint PRIMARY KEY CHECK (seq >= 0),
    bytes bytea NOT NULL,
    meta bytea NOT NULL
);
CREATE TABLE audit_nodes (
    level integer NOT NULL,
    index bigint NOT NULL,
    hash bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, index)
);
CREATE TABLE audit_snapshot (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    bytes bytea NOT NULL
);
