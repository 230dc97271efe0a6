-- up
DROP TABLE `strata_del_ffc58c36d8ba`;
-- down
-- strata_del_ffc58c36d8ba was purged; it cannot be restored;
