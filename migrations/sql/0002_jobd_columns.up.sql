-- What jobd needs beyond the original columns. Each column and index is added
-- only when it is missing, so this runs safely on a table created by the
-- original jobd (whose older versions had no `slot` column either).
{{addColumn "slot" "char(16) DEFAULT NULL AFTER `target`"}}
{{addColumn "priority" "int(11) NOT NULL DEFAULT 0"}}
{{addColumn "run_at" "int(10) UNSIGNED NOT NULL DEFAULT 0"}}
{{addColumn "attempts" "int(10) UNSIGNED NOT NULL DEFAULT 0"}}
{{addColumn "instance_id" "bigint(20) UNSIGNED DEFAULT NULL"}}
-- 1 once a job was claimed by run-manual: a release or a recovery puts it
-- back to manual, not to waiting, and a finished row shows it ran manually.
{{addColumn "manual" "tinyint(1) UNSIGNED NOT NULL DEFAULT 0"}}
-- Claiming: equality on (status, target, slot), then rows already in claim
-- order (higher priority first, then older id), run_at filtered in the index.
{{addIndex "jobd_claim_idx" "(`status`, `target`, `slot`, `priority` DESC, `id`, `run_at`)"}}
-- When does the next delayed job of a target come due?
{{addIndex "jobd_due_idx" "(`status`, `target`, `run_at`)"}}
-- jobd_instance_idx (instance_id, status) was added here until migration 4
-- dropped it; it is no longer built, so a large table does not build an
-- index only to drop it. Tables that got it lose it in 4 (whose down adds
-- it back, as version 3 had it).
