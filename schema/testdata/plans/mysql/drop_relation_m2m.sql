-- up
RENAME TABLE `posts_editors` TO `strata_del_ffc58c36d8ba`;
-- down
RENAME TABLE `strata_del_ffc58c36d8ba` TO `posts_editors`;
