-- up
DROP INDEX `strata_ix_ffe14fa544f8` ON `posts`;
ALTER TABLE `posts` RENAME COLUMN `views` TO `strata_del_c0201f7ce80f`;
-- down
ALTER TABLE `posts` RENAME COLUMN `strata_del_c0201f7ce80f` TO `views`;
CREATE INDEX `strata_ix_ffe14fa544f8` ON `posts` (`views`, `id`) ALGORITHM=INPLACE LOCK=NONE;
