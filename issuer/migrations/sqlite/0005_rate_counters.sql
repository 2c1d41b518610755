-- The hourly counters serve registrations too, not only phone login: one name for what they are.
ALTER TABLE otp_counters RENAME TO rate_counters;
DROP INDEX otp_counters_window_start;
CREATE INDEX rate_counters_window_start ON rate_counters (window_start);
