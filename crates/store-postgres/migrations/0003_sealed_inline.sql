-- Sealed values are ciphertext, which never compresses: store them without trying, and
-- keep a row of up to about 8 KB in the table itself (a 4 KiB record is then read with
-- the row, not fetched from the TOAST table as a second lookup).
ALTER TABLE vault_records ALTER COLUMN sealed SET STORAGE EXTERNAL;
ALTER TABLE vault_records SET (toast_tuple_target = 8160);
