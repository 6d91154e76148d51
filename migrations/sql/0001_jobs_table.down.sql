-- jobd never drops the jobs table: it holds the application's data, and it
-- may have existed long before jobd. Drop it by hand if you really mean to.
DO 0;
