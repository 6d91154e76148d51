DROP TABLE IF EXISTS {{.Instances}};
