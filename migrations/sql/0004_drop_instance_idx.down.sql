{{addIndex "jobd_instance_idx" "(`instance_id`, `status`)"}}
