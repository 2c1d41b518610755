-- The same change as migrations/sqlite 0006: when the user proved they read mail at their
-- address; NULL until then (and for phone users).
ALTER TABLE users ADD COLUMN email_verified_at bigint;
