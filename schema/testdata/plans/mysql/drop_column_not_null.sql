-- up
ALTER TABLE `posts` RENAME COLUMN `title` TO `strata_del_c0201f7ce80f`;
ALTER TABLE `posts` MODIFY COLUMN `strata_del_c0201f7ce80f` varchar(200) NULL;
-- down
ALTER TABLE `posts` MODIFY COLUMN `strata_del_c0201f7ce80f` varchar(200) NOT NULL;
ALTER TABLE `posts` RENAME COLUMN `strata_del_c0201f7ce80f` TO `title`;
