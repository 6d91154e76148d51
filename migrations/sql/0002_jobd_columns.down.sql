-- Removes what 0002 added, except `slot`, which belongs to the original schema.
{{dropIndex "jobd_instance_idx"}}
{{dropIndex "jobd_due_idx"}}
{{dropIndex "jobd_claim_idx"}}
{{dropColumn "manual"}}
{{dropColumn "instance_id"}}
{{dropColumn "attempts"}}
{{dropColumn "run_at"}}
{{dropColumn "priority"}}
