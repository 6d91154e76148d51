-- jobd_instance_idx (instance_id, status) was rewritten by every claim and
-- every finish, for queries that run only at start-up and during recovery.
-- Those read the few accepted and running rows through the status indexes.
{{dropIndex "jobd_instance_idx"}}
